"""Stage 1: who is calling. SHA-256 of the bearer key, looked up through the in-process
key directory (no per-request database query)."""

from __future__ import annotations

from gateway.request import RequestContext
from gateway.tenancy.directory import KeyDirectory


class Authenticate:
    def __init__(self, directory: KeyDirectory) -> None:
        self._directory = directory

    async def __call__(self, ctx: RequestContext) -> None:
        ctx.principal = await self._directory.authenticate(ctx.api_key)
