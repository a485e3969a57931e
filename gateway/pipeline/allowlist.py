"""Stage 3: is the requested model (or alias) one this tenant may use? Answers before any
provider is contacted; resolves the name to the deployments to try."""

from __future__ import annotations

from gateway.catalog import Catalog
from gateway.errors import InvalidRequest, NotFound, PermissionDenied
from gateway.pipeline.context import RequestContext
from gateway.routing.candidates import resolve
from gateway.routing.latency import LatencyTracker


class CheckAllowlist:
    def __init__(self, catalog: Catalog, latency: LatencyTracker) -> None:
        self._catalog = catalog
        self._latency = latency

    async def __call__(self, ctx: RequestContext) -> None:
        assert ctx.principal is not None
        name = ctx.request.model
        tenant = ctx.principal.tenant
        entry = self._catalog.models.get(name)
        if entry is None and name not in self._catalog.aliases:
            raise NotFound(f"The model `{name}` does not exist.", param="model")
        if entry is not None and entry.kind != "chat":
            raise InvalidRequest(f"`{name}` is an embeddings model; use /v1/embeddings.", param="model")
        if not tenant.allows(name):
            raise PermissionDenied(f"This key may not use the model `{name}`.", param="model")
        candidates = resolve(self._catalog, name, tenant, self._latency)
        if not candidates:
            raise PermissionDenied(f"The alias `{name}` resolves to no model this key may use.", param="model")
        ctx.candidates = candidates
