"""Key -> tenant lookups for the request path, cached in process.

A cached answer is used for at most `ttl` seconds, then re-read (one query per key per
ttl, shared by concurrent requests), so a revoke, disable or tier change made by any
process -- the CLI included -- takes effect within `ttl` with no per-request query.
`invalidate` drops entries at once (used by in-process mutations and by cross-replica
notifications).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.errors import AuthenticationFailed
from gateway.tenancy.keys import hash_key, looks_like_key
from gateway.tenancy.models import ApiKey, Principal, Tenant
from gateway.tenancy.tables import api_keys, tenants

_MAX_ENTRIES = 100_000


@dataclass(slots=True)
class _Entry:
    principal: Principal | None     # None: no such key (cached briefly against key-guessing floods)
    fetched_at: float


def tenant_from_row(row: sa.Row) -> Tenant:
    return Tenant(id=row.id, name=row.name, tier=row.tier, models=tuple(row.models or ()),
                  limit_overrides=dict(row.limits or {}), pii_mode=row.pii_mode,
                  cache_mode=row.cache_mode, disabled=bool(row.disabled))


def key_from_row(row: sa.Row) -> ApiKey:
    return ApiKey(id=row.id, tenant_id=row.tenant_id, prefix=row.prefix, label=row.label,
                  expires_at=_utc(row.expires_at), revoked_at=_utc(row.revoked_at), limits=row.limits)


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything here is stored in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class KeyDirectory:
    def __init__(self, engine: AsyncEngine, ttl: float = 1.0) -> None:
        self._engine = engine
        self._ttl = ttl
        self._entries: dict[str, _Entry] = {}
        self._loading: dict[str, asyncio.Future[Principal | None]] = {}

    async def authenticate(self, key: str | None) -> Principal:
        """The key's principal, or AuthenticationFailed -- one message for every reason, so a
        caller cannot tell a revoked key from an unknown one."""
        if not key or not looks_like_key(key):
            raise AuthenticationFailed()
        digest = hash_key(key)
        entry = self._entries.get(digest)
        if entry is not None and time.monotonic() - entry.fetched_at < self._ttl:
            principal = entry.principal
        else:
            principal = await self._load_once(digest)
        if principal is None or principal.tenant.disabled or not principal.key.usable_at(datetime.now(UTC)):
            raise AuthenticationFailed()
        return principal

    def invalidate(self, key_hash: str | None = None) -> None:
        if key_hash is None:
            self._entries.clear()
        else:
            self._entries.pop(key_hash, None)

    async def _load_once(self, digest: str) -> Principal | None:
        pending = self._loading.get(digest)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Principal | None] = asyncio.get_running_loop().create_future()
        self._loading[digest] = future
        try:
            principal = await self._load(digest)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it, nobody else needs to
            raise
        finally:
            self._loading.pop(digest, None)
        future.set_result(principal)
        if len(self._entries) >= _MAX_ENTRIES:
            self._entries.clear()
        self._entries[digest] = _Entry(principal, time.monotonic())
        return principal

    async def _load(self, digest: str) -> Principal | None:
        query = (sa.select(api_keys, tenants.c.id.label("t_id"), tenants.c.name, tenants.c.tier,
                           tenants.c.models, tenants.c.limits.label("t_limits"), tenants.c.pii_mode,
                           tenants.c.cache_mode, tenants.c.disabled)
                 .join(tenants, tenants.c.id == api_keys.c.tenant_id)
                 .where(api_keys.c.key_hash == digest))
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        tenant = Tenant(id=row.t_id, name=row.name, tier=row.tier, models=tuple(row.models or ()),
                        limit_overrides=dict(row.t_limits or {}), pii_mode=row.pii_mode,
                        cache_mode=row.cache_mode, disabled=bool(row.disabled))
        return Principal(tenant=tenant, key=key_from_row(row))
