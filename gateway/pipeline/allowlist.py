"""Stage 3: is the requested model (or alias) one this tenant may use? Answers before any
provider is contacted; resolves the name to the deployments to try.

An allowlist holds model names, alias names and glob patterns (`gpt-4o*`, `*`), resolved
against the catalog when the tenant is loaded (gateway/tenancy/allowlist.py): an alias is
allowed only if it reaches an allowed model, and resolves to allowed models only
(gateway/routing/candidates.py). /v1/models lists the same names `Tenant.allows` accepts.
"""

from __future__ import annotations

from gateway.catalog import Catalog
from gateway.errors import InvalidRequest, NotFound, PermissionDenied
from gateway.request import Candidate, Operation, RequestContext
from gateway.routing.candidates import resolve
from gateway.routing.latency import LatencyTracker
from gateway.tenancy.models import Tenant


class CheckAllowlist:
    def __init__(self, catalog: Catalog, latency: LatencyTracker) -> None:
        self._catalog = catalog
        self._latency = latency

    def candidates(self, name: str, tenant: Tenant) -> list[Candidate]:
        """The deployments `tenant` may reach through `name`, or the error that says why none."""
        entry = self._catalog.models.get(name)
        if entry is None and name not in self._catalog.aliases:
            raise NotFound(f"The model `{name}` does not exist.", param="model")
        if not tenant.allows(name):
            raise PermissionDenied(f"This key may not use the model `{name}`.", param="model")
        candidates = resolve(self._catalog, name, tenant, self._latency)
        if not candidates:
            raise PermissionDenied(f"The alias `{name}` resolves to no model this key may use.", param="model")
        return candidates

    async def __call__(self, ctx: RequestContext) -> None:
        assert ctx.principal is not None
        name = ctx.request.model
        entry = self._catalog.models.get(name)
        if ctx.operation is Operation.EMBEDDINGS:
            if entry is None and name in self._catalog.aliases:
                raise InvalidRequest(f"`{name}` is an alias of chat models; embeddings need a concrete model.",
                                     param="model")
            if entry is not None and entry.kind != "embeddings":
                raise InvalidRequest(f"`{name}` is a chat model; use /v1/chat/completions.", param="model")
        elif entry is not None and entry.kind != "chat":
            raise InvalidRequest(f"`{name}` is an embeddings model; use /v1/embeddings.", param="model")
        ctx.candidates = self.candidates(name, ctx.principal.tenant)
