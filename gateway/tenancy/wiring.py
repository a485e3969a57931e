"""Builds the tenancy parts of a running gateway: the key directory with its last-used writer,
the change feed that keeps every replica's directory fresh, the service, and the admin key."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.catalog import Catalog
from gateway.settings import Settings
from gateway.tenancy.admin_key import AdminKey, open_admin_key
from gateway.tenancy.changes import Apply, Change, ChangeFeed
from gateway.tenancy.directory import KeyDirectory
from gateway.tenancy.last_used import LastUsedRecorder
from gateway.tenancy.service import TenancyService


@dataclass(frozen=True, slots=True)
class Tenancy:
    directory: KeyDirectory
    service: TenancyService
    changes: ChangeFeed
    admin_key: AdminKey


async def open_tenancy(engine: AsyncEngine, catalog: Catalog, settings: Settings, stack: AsyncExitStack,
                       also: Sequence[Apply] = ()) -> Tenancy:
    """Everything it starts is closed by `stack` (before the engine, which the caller pushed first).
    `also`: other caches the change feed keeps fresh (the prompt resolver's label pointers)."""
    last_used = LastUsedRecorder(engine, interval=settings.last_used_flush_seconds)
    await last_used.start()
    stack.push_async_callback(last_used.close)
    directory = KeyDirectory(engine, ttl=settings.key_cache_ttl_seconds, last_used=last_used, catalog=catalog,
                             load_timeout=settings.database_timeout_seconds)
    listeners = (directory.apply, *also)

    def apply(change: Change) -> None:
        for listener in listeners:
            listener(change)

    changes = ChangeFeed(settings.redis_url, apply if also else directory.apply)
    await changes.start()
    stack.push_async_callback(changes.close)
    service = TenancyService(engine, tiers=list(catalog.tiers), model_names=[*catalog.models, *catalog.aliases],
                             publish=changes.publish)
    configured = settings.admin_key.get_secret_value() if settings.admin_key else None
    admin_key, generated = await open_admin_key(engine, configured)
    if generated is not None:
        print("Generated the admin key (shown this once; only its SHA-256 is stored; "
              "set GATEWAY_ADMIN_KEY to use your own, or replace it with `llm-gateway admin-key reset`):\n"
              f"    {generated}\n", flush=True)
    return Tenancy(directory=directory, service=service, changes=changes, admin_key=admin_key)
