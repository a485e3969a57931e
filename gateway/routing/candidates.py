"""Resolving a requested name to an ordered list of deployments.

A concrete model resolves to its own deployments only: it is never answered by another
model. Aliases are the only opt-in to substitution, and resolve only to models the tenant
may use.
"""

from __future__ import annotations

from gateway.catalog import Catalog
from gateway.request import Candidate
from gateway.routing.latency import LatencyTracker
from gateway.tenancy.models import Tenant


def chat_models_for(catalog: Catalog, tenant: Tenant) -> list[str]:
    return [name for name, entry in catalog.models.items() if entry.kind == "chat" and tenant.allows(name)]


def resolve(catalog: Catalog, name: str, tenant: Tenant, latency: LatencyTracker) -> list[Candidate]:
    """Deployments for `name` in the order to try them; [] when the tenant may use none."""
    if name in catalog.models:
        return [Candidate(name, d.provider, d.upstream) for d in catalog.models[name].deployments]
    alias = catalog.aliases[name]
    if alias.models is not None:
        models = [m for m in alias.models if tenant.allows(m)]
    elif alias.rank == "price":
        def price(model: str) -> tuple[object, ...]:
            p = catalog.models[model].price
            return (p.input + p.output, model)
        models = sorted(chat_models_for(catalog, tenant), key=price)
    else:
        models = chat_models_for(catalog, tenant)
    candidates = [Candidate(m, d.provider, d.upstream) for m in models for d in catalog.models[m].deployments]
    if alias.rank == "latency":
        # Unmeasured deployments go first, once, so that every one gets measured.
        def speed(c: Candidate) -> float:
            seconds = latency.estimate(c.model, c.provider)
            return -1.0 if seconds is None else seconds
        candidates.sort(key=speed)
    return candidates
