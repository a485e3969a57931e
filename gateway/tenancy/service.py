"""Tenant and key operations shared by the CLI and the admin API. Every mutation writes
an audit row in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.tenancy import audit
from gateway.tenancy.keys import display_prefix, generate_key, hash_key, new_id, valid_tenant_name
from gateway.tenancy.models import LIMIT_NAMES
from gateway.tenancy.tables import api_keys, tenants


class TenancyError(ValueError):
    """A tenant or key operation cannot be done as asked (the message says why)."""


class NotFoundError(TenancyError):
    pass


@dataclass(frozen=True, slots=True)
class IssuedKey:
    id: str
    key: str          # the only time the full key exists outside the caller's hands
    prefix: str
    tenant: str


def _tenant_dict(row: sa.Row) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "tier": row.tier, "models": list(row.models or []),
            "limits": dict(row.limits or {}), "pii_mode": row.pii_mode, "cache_mode": row.cache_mode,
            "disabled": bool(row.disabled)}


def _key_dict(row: sa.Row) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None
    return {"id": row.id, "tenant_id": row.tenant_id, "prefix": row.prefix, "label": row.label,
            "created_at": iso(row.created_at), "expires_at": iso(row.expires_at),
            "revoked_at": iso(row.revoked_at), "last_used_at": iso(row.last_used_at)}


def _check_limits(limits: dict[str, Any]) -> dict[str, Any]:
    unknown = set(limits) - set(LIMIT_NAMES)
    if unknown:
        raise TenancyError(f"unknown limit {sorted(unknown)[0]!r} (known: {', '.join(LIMIT_NAMES)})")
    for name, value in limits.items():
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool) or value < 0):
            raise TenancyError(f"limit {name!r} must be a non-negative number")
    return limits


class TenancyService:
    def __init__(self, engine: AsyncEngine, tiers: Sequence[str]) -> None:
        self._engine = engine
        self._tiers = tuple(tiers)

    async def create_tenant(self, name: str, *, tier: str, models: Sequence[str],
                            limits: dict[str, Any] | None = None, pii_mode: str | None = None,
                            cache_mode: str | None = None, actor: str = "cli",
                            request_id: str | None = None) -> dict[str, Any]:
        if not valid_tenant_name(name):
            raise TenancyError("tenant names are 1-63 characters of a-z, 0-9 and _, starting with a letter or digit")
        if tier not in self._tiers:
            raise TenancyError(f"unknown tier {tier!r} (known: {', '.join(self._tiers)})")
        now = datetime.now(UTC)
        values = {"id": new_id("ten"), "name": name, "tier": tier, "models": list(models),
                  "limits": _check_limits(dict(limits or {})), "pii_mode": pii_mode,
                  "cache_mode": cache_mode, "disabled": False, "created_at": now, "updated_at": now}
        async with self._engine.begin() as conn:
            exists = await conn.scalar(sa.select(tenants.c.id).where(tenants.c.name == name))
            if exists:
                raise TenancyError(f"tenant {name!r} already exists")
            await conn.execute(sa.insert(tenants).values(**values))
            row = (await conn.execute(sa.select(tenants).where(tenants.c.name == name))).one()
            after = _tenant_dict(row)
            await audit.record(conn, actor=actor, action="tenant.create", target=name, before=None,
                               after=after, request_id=request_id)
        return after

    async def get_tenant(self, name: str) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(tenants).where(tenants.c.name == name))).first()
        if row is None:
            raise NotFoundError(f"no tenant {name!r}")
        return _tenant_dict(row)

    async def list_tenants(self) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(sa.select(tenants).order_by(tenants.c.name))).all()
        return [_tenant_dict(r) for r in rows]

    async def create_key(self, tenant: str, *, label: str | None = None,
                         expires_in: timedelta | None = None, actor: str = "cli",
                         request_id: str | None = None) -> IssuedKey:
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            row = (await conn.execute(sa.select(tenants).where(tenants.c.name == tenant))).first()
            if row is None:
                raise NotFoundError(f"no tenant {tenant!r}")
            key = generate_key(tenant)
            key_id = new_id("key")
            prefix = display_prefix(key)
            await conn.execute(sa.insert(api_keys).values(
                id=key_id, tenant_id=row.id, key_hash=hash_key(key), prefix=prefix, label=label,
                created_at=now, expires_at=now + expires_in if expires_in else None))
            await audit.record(conn, actor=actor, action="key.create", target=tenant, before=None,
                               after={"key_id": key_id, "prefix": prefix, "label": label},
                               request_id=request_id)
        return IssuedKey(id=key_id, key=key, prefix=prefix, tenant=tenant)

    async def list_keys(self, tenant: str) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(
                sa.select(api_keys).join(tenants, tenants.c.id == api_keys.c.tenant_id)
                .where(tenants.c.name == tenant).order_by(api_keys.c.created_at))).all()
        return [_key_dict(r) for r in rows]

    async def revoke_key(self, key_id: str, *, actor: str = "cli", at: datetime | None = None,
                         request_id: str | None = None) -> dict[str, Any]:
        """Revokes now, or at `at` (a rotation's grace period). Returns the key's hash-free row."""
        when = at or datetime.now(UTC)
        async with self._engine.begin() as conn:
            row = (await conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id))).first()
            if row is None:
                raise NotFoundError(f"no key {key_id!r}")
            before = _key_dict(row)
            await conn.execute(sa.update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=when))
            row = (await conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id))).one()
            after = _key_dict(row)
            await audit.record(conn, actor=actor, action="key.revoke", target=key_id, before=before,
                               after=after, request_id=request_id)
        return {**after, "key_hash": row.key_hash}
