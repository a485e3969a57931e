"""Tenant and key operations shared by the CLI and the admin API.

Every mutation writes an audit row (state before and after) in the same transaction, and,
once committed, publishes a change so that every replica's key directory stops trusting
what it cached (gateway/tenancy/changes.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.tenancy import audit
from gateway.tenancy.audit import Actor
from gateway.tenancy.changes import Change, ChangeKind
from gateway.tenancy.keys import display_prefix, generate_key, hash_key, new_id
from gateway.tenancy.models import as_utc
from gateway.tenancy.tables import api_keys, tenants
from gateway.tenancy.validation import (
    CACHE_MODES,
    PII_MODES,
    VALIDATION_MODES,
    NotFoundError,
    TenancyError,
    check_label,
    check_limits,
    check_mode,
    check_models,
    check_tenant_name,
    check_tier,
)

__all__ = ["Actor", "IssuedKey", "NotFoundError", "TenancyError", "TenancyService"]

Publish = Callable[[Change], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class IssuedKey:
    id: str
    key: str          # the only time the full key exists outside the caller's hands
    prefix: str
    tenant: str
    expires_at: datetime | None = None


def _iso(value: datetime | None) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value else None


def tenant_dict(row: sa.Row[Any]) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "tier": row.tier, "models": list(row.models or []),
            "limits": dict(row.limits or {}), "pii_mode": row.pii_mode, "cache_mode": row.cache_mode,
            "validation_mode": row.validation_mode,
            "disabled": bool(row.disabled), "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at)}


def key_state(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> str:
    revoked_at, expires_at = as_utc(revoked_at), as_utc(expires_at)
    if revoked_at is not None and revoked_at <= now:
        return "revoked"
    if expires_at is not None and expires_at <= now:
        return "expired"
    return "active" if revoked_at is None else "rotating"   # revoked later: a rotation's grace


def key_dict(row: sa.Row[Any], now: datetime | None = None) -> dict[str, Any]:
    """A key as listings and the audit log show it: never its hash, never the key."""
    return {"id": row.id, "tenant_id": row.tenant_id, "prefix": row.prefix, "label": row.label,
            "state": key_state(row.revoked_at, row.expires_at, now or datetime.now(UTC)),
            "created_at": _iso(row.created_at), "expires_at": _iso(row.expires_at),
            "revoked_at": _iso(row.revoked_at), "last_used_at": _iso(row.last_used_at),
            "limits": dict(row.limits or {})}


class TenancyService:
    def __init__(self, engine: AsyncEngine, tiers: Sequence[str], *, model_names: Collection[str] = (),
                 publish: Publish | None = None) -> None:
        self._engine = engine
        self._tiers = tuple(tiers)
        self._model_names = frozenset(model_names)   # catalog models and aliases, for allowlist checks
        self._publish = publish

    # -- tenants -------------------------------------------------------------------------------

    async def create_tenant(self, name: str, *, tier: str, models: Sequence[str],
                            limits: dict[str, Any] | None = None, pii_mode: str | None = None,
                            cache_mode: str | None = None, validation_mode: str | None = None,
                            actor: str | Actor = "cli", request_id: str | None = None) -> dict[str, Any]:
        now = datetime.now(UTC)
        values = {"id": new_id("ten"), "name": check_tenant_name(name), "tier": check_tier(tier, self._tiers),
                  "models": check_models(models, self._model_names), "limits": check_limits(dict(limits or {})),
                  "pii_mode": check_mode(pii_mode, PII_MODES, "PII mode"),
                  "cache_mode": check_mode(cache_mode, CACHE_MODES, "cache mode"),
                  "validation_mode": check_mode(validation_mode, VALIDATION_MODES, "validation mode"),
                  "disabled": False, "created_at": now, "updated_at": now}
        async with self._engine.begin() as conn:
            if await conn.scalar(sa.select(tenants.c.id).where(tenants.c.name == name)):
                raise TenancyError(f"tenant {name!r} already exists")
            try:
                await conn.execute(sa.insert(tenants).values(**values))
            except IntegrityError:   # created concurrently by another process
                raise TenancyError(f"tenant {name!r} already exists") from None
            after = tenant_dict(await self._tenant_row(conn, name))
            await audit.record(conn, actor=actor, action="tenant.create", target=name, before=None,
                               after=after, request_id=request_id)
        return after

    async def get_tenant(self, name: str) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            return tenant_dict(await self._tenant_row(conn, name))

    async def list_tenants(self) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(sa.select(tenants).order_by(tenants.c.name))).all()
        return [tenant_dict(r) for r in rows]

    async def update_tenant(self, name: str, *, tier: str | None = None, models: Sequence[str] | None = None,
                            limits: dict[str, Any] | None = None, clear_limits: Sequence[str] = (),
                            pii_mode: str | None = None, cache_mode: str | None = None,
                            validation_mode: str | None = None, disabled: bool | None = None,
                            actor: str | Actor = "cli", request_id: str | None = None,
                            action: str = "tenant.update") -> dict[str, Any]:
        """Changes what is given and nothing else. `limits` sets overrides (null: unlimited),
        `clear_limits` removes overrides (back to the tier); a mode of "default" clears it."""
        changes: dict[str, Any] = {}
        if tier is not None:
            changes["tier"] = check_tier(tier, self._tiers)
        if models is not None:
            changes["models"] = check_models(models, self._model_names)
        if pii_mode is not None:
            changes["pii_mode"] = check_mode(pii_mode, PII_MODES, "PII mode")
        if cache_mode is not None:
            changes["cache_mode"] = check_mode(cache_mode, CACHE_MODES, "cache mode")
        if validation_mode is not None:
            changes["validation_mode"] = check_mode(validation_mode, VALIDATION_MODES, "validation mode")
        if disabled is not None:
            changes["disabled"] = disabled
        new_limits = check_limits(dict(limits or {}))
        check_limits(dict.fromkeys(clear_limits))
        if not changes and not new_limits and not clear_limits:
            raise TenancyError("nothing to update: give at least one setting to change")
        async with self._engine.begin() as conn:
            row = await self._tenant_row(conn, name, for_update=True)
            before = tenant_dict(row)
            if new_limits or clear_limits:
                merged = {k: v for k, v in before["limits"].items() if k not in clear_limits}
                changes["limits"] = {**merged, **new_limits}
            await conn.execute(sa.update(tenants).where(tenants.c.id == row.id)
                               .values(**changes, updated_at=datetime.now(UTC)))
            after = tenant_dict(await self._tenant_row(conn, name))
            await audit.record(conn, actor=actor, action=action, target=name, before=before, after=after,
                               request_id=request_id)
        await self._changed(Change(ChangeKind.TENANT, row.id))
        return after

    async def disable_tenant(self, name: str, *, actor: str | Actor = "cli",
                             request_id: str | None = None) -> dict[str, Any]:
        """Every key of the tenant stops working (401) on every replica; `update --enable` undoes it."""
        return await self.update_tenant(name, disabled=True, actor=actor, request_id=request_id,
                                        action="tenant.disable")

    # -- keys ----------------------------------------------------------------------------------

    async def create_key(self, tenant: str, *, label: str | None = None, expires_in: timedelta | None = None,
                         limits: dict[str, Any] | None = None, actor: str | Actor = "cli",
                         request_id: str | None = None) -> IssuedKey:
        """`limits` are the key's own (rpm, tpm, ...), counted for it alone on top of its tenant's."""
        async with self._engine.begin() as conn:
            row = await self._tenant_row(conn, tenant)
            issued, after = await self._insert_key(conn, row, label=check_label(label), expires_in=expires_in,
                                                   limits=check_limits(dict(limits or {})))
            await audit.record(conn, actor=actor, action="key.create", target=issued.id, before=None,
                               after={**after, "tenant": tenant}, request_id=request_id)
        return issued

    async def list_keys(self, tenant: str) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        async with self._engine.connect() as conn:
            row = await self._tenant_row(conn, tenant)
            rows = (await conn.execute(sa.select(api_keys).where(api_keys.c.tenant_id == row.id)
                                       .order_by(api_keys.c.created_at))).all()
        return [key_dict(r, now) for r in rows]

    async def get_key(self, key_id: str) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            return key_dict(await self._key_row(conn, key_id))

    async def revoke_key(self, key_id: str, *, actor: str | Actor = "cli",
                         request_id: str | None = None) -> dict[str, Any]:
        """Revokes now (also ends a rotation's grace period early). Idempotent."""
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            row = await self._key_row(conn, key_id, for_update=True)
            before = key_dict(row, now)
            revoked_at = as_utc(row.revoked_at)
            if revoked_at is None or revoked_at > now:
                await conn.execute(sa.update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=now))
            after = key_dict(await self._key_row(conn, key_id), now)
            await audit.record(conn, actor=actor, action="key.revoke", target=key_id, before=before,
                               after=after, request_id=request_id)
        await self._changed(Change(ChangeKind.KEY, key_id))
        return after

    async def rotate_key(self, key_id: str, *, grace: timedelta, expires_in: timedelta | None = None,
                         actor: str | Actor = "cli", request_id: str | None = None) -> tuple[IssuedKey, dict[str, Any]]:
        """Issues a new key for the same tenant (same label) and revokes the old one at now + grace,
        so that clients can switch over. Returns the new key and the old key's row."""
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            old = await self._key_row(conn, key_id, for_update=True)
            state = key_state(old.revoked_at, old.expires_at, now)
            if state != "active":
                raise TenancyError(f"key {key_id!r} is {state}; only an active key can be rotated")
            tenant = (await conn.execute(sa.select(tenants).where(tenants.c.id == old.tenant_id))).one()
            before = key_dict(old, now)
            issued, new_row = await self._insert_key(conn, tenant, label=old.label, expires_in=expires_in,
                                                     limits=old.limits)
            await conn.execute(sa.update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=now + grace))
            after = key_dict(await self._key_row(conn, key_id), now)
            await audit.record(conn, actor=actor, action="key.create", target=issued.id, before=None,
                               after={**new_row, "tenant": tenant.name, "rotated_from": key_id},
                               request_id=request_id)
            await audit.record(conn, actor=actor, action="key.rotate", target=key_id, before=before,
                               after={**after, "replaced_by": issued.id}, request_id=request_id)
        await self._changed(Change(ChangeKind.KEY, key_id))
        return issued, after

    # -- audit ---------------------------------------------------------------------------------

    async def list_audit(self, *, target: str | None = None, action: str | None = None,
                         limit: int = 100, before_id: int | None = None) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            return await audit.entries(conn, target=target, action=action, limit=limit, before_id=before_id)

    # -- helpers -------------------------------------------------------------------------------

    async def _insert_key(self, conn: AsyncConnection, tenant: sa.Row[Any], *, label: str | None,
                          expires_in: timedelta | None,
                          limits: dict[str, Any] | None = None) -> tuple[IssuedKey, dict[str, Any]]:
        now = datetime.now(UTC)
        key = generate_key(tenant.name)
        key_id = new_id("key")
        if expires_in is not None and expires_in <= timedelta(0):
            raise TenancyError("expires_in must be more than zero (omit it for a key that never expires)")
        expires_at = now + expires_in if expires_in is not None else None
        await conn.execute(sa.insert(api_keys).values(
            id=key_id, tenant_id=tenant.id, key_hash=hash_key(key), prefix=display_prefix(key), label=label,
            created_at=now, expires_at=expires_at, limits=limits or None))
        row = await self._key_row(conn, key_id)
        return (IssuedKey(id=key_id, key=key, prefix=row.prefix, tenant=tenant.name, expires_at=expires_at),
                key_dict(row, now))

    @staticmethod
    async def _tenant_row(conn: AsyncConnection, name: str, *, for_update: bool = False) -> sa.Row[Any]:
        query = sa.select(tenants).where(tenants.c.name == name)
        row = (await conn.execute(query.with_for_update() if for_update else query)).first()
        if row is None:
            raise NotFoundError(f"no tenant {name!r}")
        return row

    @staticmethod
    async def _key_row(conn: AsyncConnection, key_id: str, *, for_update: bool = False) -> sa.Row[Any]:
        query = sa.select(api_keys).where(api_keys.c.id == key_id)
        row = (await conn.execute(query.with_for_update() if for_update else query)).first()
        if row is None:
            raise NotFoundError(f"no key {key_id!r}")
        return row

    async def _changed(self, change: Change) -> None:
        if self._publish is not None:
            await self._publish(change)
