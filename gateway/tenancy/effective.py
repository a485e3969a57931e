"""What a tenant may actually do: its tier's limits with its overrides applied, and the models
and aliases its allowlist lets it call. `tenants show` and GET /admin/tenants/{name} print this
beside the stored overrides, so "why do I get 429/403?" is answered in one place."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Any

from gateway.catalog import Catalog
from gateway.tenancy.allowlist import callable_names
from gateway.tenancy.models import Limits


def effective_view(tenant: dict[str, Any], catalog: Catalog) -> dict[str, Any]:
    tier = catalog.tiers.get(tenant["tier"])
    limits = Limits.merged(tier.model_dump(exclude_none=True) if tier is not None else None, tenant["limits"])
    shown = {name: (str(value) if isinstance(value, Decimal) else value) for name, value in asdict(limits).items()}
    return {**tenant, "effective_limits": shown,          # null: unlimited
            "callable_models": sorted(callable_names(tenant["models"], catalog))}
