"""Key -> tenant lookups for the request path, cached in process.

A cached answer is used for at most `ttl` seconds, then re-read (one query per key per
ttl, shared by concurrent requests), so a revoke, disable or tier change made by any
process -- the CLI included -- takes effect within `ttl` with no per-request query.
A key in use is re-read in the background once its answer is half a ttl old, so that no
request waits for that query (it had been the overhead p99 at 100 req/s: one request in a
hundred waited for PostgreSQL); only a key idle for a whole ttl is read on the request.
`apply` drops entries at once: for this process's own mutations and for the changes other
replicas and the CLI publish (gateway/tenancy/changes.py). A load that was in flight when
entries were dropped is answered but not cached, so it cannot bring a stale answer back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.catalog import Catalog
from gateway.errors import AuthenticationFailed, ServiceUnavailable
from gateway.tenancy.allowlist import callable_names
from gateway.tenancy.changes import Change, ChangeKind
from gateway.tenancy.keys import hash_key, looks_like_key
from gateway.tenancy.last_used import LastUsedRecorder
from gateway.tenancy.models import ApiKey, Principal, Tenant, as_utc
from gateway.tenancy.tables import api_keys, tenants

_MAX_ENTRIES = 100_000
log = logging.getLogger("gateway.tenancy")


@dataclass(slots=True)
class _Entry:
    principal: Principal | None     # None: no such key (cached briefly against key-guessing floods)
    fetched_at: float


def key_from_row(row: sa.Row[Any]) -> ApiKey:
    return ApiKey(id=row.id, tenant_id=row.tenant_id, prefix=row.prefix, label=row.label,
                  expires_at=as_utc(row.expires_at), revoked_at=as_utc(row.revoked_at), limits=row.limits)


class KeyDirectory:
    def __init__(self, engine: AsyncEngine, ttl: float = 1.0, last_used: LastUsedRecorder | None = None,
                 catalog: Catalog | None = None, load_timeout: float = 2.0) -> None:
        self._engine = engine
        self._load_timeout = load_timeout   # a hung database must not hang every request
        self._catalog = catalog      # resolves each tenant's allowlist once per load
        self._ttl = ttl
        self.last_used = last_used
        self._entries: dict[str, _Entry] = {}
        self._loading: dict[str, asyncio.Future[Principal | None]] = {}
        self._generation = 0         # bumped by every invalidation
        self._refreshing: set[asyncio.Task[None]] = set()
        self._unreachable_until = 0.0   # after a failed read: known keys are answered from memory till then
        self.loads = 0               # database reads so far (for tests and benchmarks)

    async def authenticate(self, key: str | None) -> Principal:
        """The key's principal, or AuthenticationFailed -- one message for every reason, so a
        caller cannot tell a revoked key from an unknown one."""
        if not key or not looks_like_key(key):
            raise AuthenticationFailed()
        digest = hash_key(key)
        entry = self._entries.get(digest)
        age = time.monotonic() - entry.fetched_at if entry is not None else self._ttl
        if entry is not None and (age < self._ttl or digest in self._loading
                                  or time.monotonic() < self._unreachable_until):
            # Fresh; or stale with a re-read already under way, or while the database has just
            # failed a read: answered from memory and re-read in the background. A slow or
            # partitioned database then costs no request of a known key a wait (changes made
            # meanwhile still arrive at once through the change feed, which drops the entry).
            principal = entry.principal
            if age >= self._ttl / 2 and digest not in self._loading:
                self._refresh_soon(digest)
        else:
            principal = await self._reload(digest, entry)
        now = datetime.now(UTC)
        if principal is None or principal.tenant.disabled or not principal.key.usable_at(now):
            raise AuthenticationFailed()
        if self.last_used is not None:
            self.last_used.touch(principal.key.id, now)
        return principal

    async def _reload(self, digest: str, entry: _Entry | None) -> Principal | None:
        """Re-reads a key. While the database is unreachable a key known before keeps its last
        answer (requests go on through an outage); a key never seen gets a 503, not a 401."""
        try:
            async with asyncio.timeout(self._load_timeout):
                return await self._load_once(digest)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            self._unreachable_until = time.monotonic() + self._ttl
            if entry is None:
                raise ServiceUnavailable("API keys cannot be verified right now; retry shortly.") from None
            log.warning("key directory: database unreachable, serving the cached answer",
                        extra={"error": type(exc).__name__})
            entry.fetched_at = time.monotonic()   # try again after another ttl, not on every request
            return entry.principal

    def _refresh_soon(self, digest: str) -> None:
        task = asyncio.get_running_loop().create_task(self._refresh(digest))
        self._refreshing.add(task)
        task.add_done_callback(self._refreshing.discard)

    async def _refresh(self, digest: str) -> None:
        """A background re-read; a failure leaves the entry to expire, and the request that
        finds it expired applies the outage rules of `_reload`."""
        try:
            async with asyncio.timeout(self._load_timeout):
                await self._load_once(digest)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            self._unreachable_until = time.monotonic() + self._ttl
            log.debug("key directory: background re-read failed", extra={"error": type(exc).__name__})

    def apply(self, change: Change) -> None:
        """Drops what `change` may have made stale; the next request re-reads it."""
        if change.kind is ChangeKind.PROMPT:
            return               # the prompt resolver's, not ours
        self._generation += 1
        if change.kind is ChangeKind.ALL:
            self._entries.clear()
        elif change.kind is ChangeKind.KEY:
            self._drop(lambda p: p.key.id == change.id)
        else:
            self._drop(lambda p: p.tenant.id == change.id)

    def _drop(self, matches: Callable[[Principal], bool]) -> None:
        # A scan: changes are rare and the map is bounded; the hot path keeps one plain dict.
        stale = [digest for digest, entry in self._entries.items()
                 if entry.principal is not None and matches(entry.principal)]
        for digest in stale:
            del self._entries[digest]

    async def _load_once(self, digest: str) -> Principal | None:
        pending = self._loading.get(digest)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Principal | None] = asyncio.get_running_loop().create_future()
        self._loading[digest] = future
        generation = self._generation
        try:
            self.loads += 1
            principal = await self._load(digest)
        except BaseException as exc:
            # A load cancelled (its own timeout, a background re-read given up) is a database
            # that did not answer, for whoever waits on it: not a CancelledError in their task.
            shared = TimeoutError("key lookup abandoned") if isinstance(exc, asyncio.CancelledError) else exc
            future.set_exception(shared)
            future.exception()  # retrieved: waiters get it, nobody else needs to
            raise
        finally:
            self._loading.pop(digest, None)
        future.set_result(principal)
        if generation != self._generation:
            return principal     # something changed while we read: do not cache what we read
        if len(self._entries) >= _MAX_ENTRIES:
            self._entries.clear()
        self._entries[digest] = _Entry(principal, time.monotonic())
        return principal

    async def _load(self, digest: str) -> Principal | None:
        query = (sa.select(api_keys, tenants.c.id.label("t_id"), tenants.c.name, tenants.c.tier,
                           tenants.c.models, tenants.c.limits.label("t_limits"), tenants.c.pii_mode,
                           tenants.c.cache_mode, tenants.c.validation_mode, tenants.c.disabled)
                 .join(tenants, tenants.c.id == api_keys.c.tenant_id)
                 .where(api_keys.c.key_hash == digest))
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        models = tuple(row.models or ())
        tenant = Tenant(id=row.t_id, name=row.name, tier=row.tier, models=models,
                        limit_overrides=dict(row.t_limits or {}), pii_mode=row.pii_mode,
                        cache_mode=row.cache_mode, validation_mode=row.validation_mode,
                        disabled=bool(row.disabled),
                        allowed_names=callable_names(models, self._catalog) if self._catalog is not None else None)
        return Principal(tenant=tenant, key=key_from_row(row))
