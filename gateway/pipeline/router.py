"""Stage 6: send the request to the first deployment that answers (unless the cache did)."""

from __future__ import annotations

from gateway.pipeline.context import RequestContext
from gateway.routing.router import Router


class RouteRequest:
    def __init__(self, router: Router) -> None:
        self._router = router

    async def __call__(self, ctx: RequestContext) -> None:
        if ctx.result is not None:       # answered from the cache
            return
        await self._router.dispatch(ctx, ctx.candidates)
