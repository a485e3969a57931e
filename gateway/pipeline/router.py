"""Stage 6: send the request to the first deployment that answers (unless the cache did)."""

from __future__ import annotations

from gateway.request import RequestContext
from gateway.routing.router import Router


class RouteRequest:
    def __init__(self, router: Router) -> None:
        self._router = router

    async def __call__(self, ctx: RequestContext) -> None:
        if ctx.result is not None:       # answered from the cache
            return
        out = await self._router.dispatch(ctx.request, ctx.operation, ctx.candidates)
        ctx.attempts = out.attempts
        ctx.upstream_seconds += out.upstream_seconds
        if out.error is not None:
            raise out.error
        ctx.route, ctx.result, ctx.embeddings, ctx.stream = out.route, out.result, out.embeddings, out.stream
        ctx.first_token_at = out.first_token_at
