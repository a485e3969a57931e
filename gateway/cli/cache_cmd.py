"""`llm-gateway cache clear --tenant T [--model M]`: drops a tenant's cached answers, exact
and semantic.

With GATEWAY_REDIS_URL the entries are in Redis, shared by every replica, and are cleared
there directly. Without Redis each gateway keeps its cache in its own process: then
`--url` names a running gateway's admin listener and the command calls its
`POST /admin/cache/clear` with GATEWAY_ADMIN_KEY."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import httpx

from gateway.cache.store import RedisCacheStore, cache_client
from gateway.catalog import load_catalog
from gateway.cli.tenants import cli_actor
from gateway.db import create_engine
from gateway.redis_client import SHARED, command_client
from gateway.settings import Settings
from gateway.tenancy import audit
from gateway.tenancy.service import TenancyError, TenancyService


def register(commands: Any) -> None:
    cache = commands.add_parser("cache", help="manage the response cache")
    sub = cache.add_subparsers(dest="action", required=True, metavar="ACTION")
    clear = sub.add_parser("clear", help="drop a tenant's cached answers (exact and semantic)")
    clear.add_argument("--tenant", required=True, help="the tenant's name")
    clear.add_argument("--model", help="only this model's entries")
    clear.add_argument("--url", help="without Redis: a running gateway's admin URL (http://host:port)")
    clear.set_defaults(run=_clear)


def _clear(args: argparse.Namespace) -> int:
    settings = Settings()
    try:
        if args.url:
            removed = _clear_over_http(settings, args)
        elif settings.redis_url:
            removed = asyncio.run(_clear_in_redis(settings, args.tenant, args.model))
        else:
            print("error: without GATEWAY_REDIS_URL the cache lives inside each gateway process; "
                  "name one with --url http://host:admin-port", file=sys.stderr)
            return 2
    except (TenancyError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"tenant": args.tenant, "model": args.model, "removed": removed}))
    return 0


async def _clear_in_redis(settings: Settings, tenant_name: str, model: str | None) -> dict[str, int]:
    assert settings.redis_url is not None
    catalog = load_catalog(settings.config)
    if catalog.cache.scope != "tenant":
        raise TenancyError("the cache is shared by all tenants (cache.scope: shared): no tenant's entries to clear")
    if model is not None and model not in catalog.models:
        raise TenancyError(f"unknown model {model!r}")
    engine = create_engine(settings.database_url)
    try:
        service = TenancyService(engine, tiers=list(catalog.tiers), model_names=list(catalog.models))
        scope = (await service.get_tenant(tenant_name))["id"]
        from gateway.cache.semantic.redis_index import RedisSemanticIndex  # numpy: only when clearing

        admin = command_client(settings.redis_url, cluster=settings.redis_cluster, options=SHARED)
        store = RedisCacheStore(cache_client(settings.redis_url, settings.redis_cluster), owns_client=True,
                                admin=admin)
        index = RedisSemanticIndex(cache_client(settings.redis_url, settings.redis_cluster), admin, owns_client=True)
        try:
            removed = {"exact": await store.clear(scope, model), "semantic": await index.clear(scope, model)}
        finally:
            await store.close()
            await index.close()
            await admin.aclose()
        async with engine.begin() as conn:     # every admin change names who made it
            await audit.record(conn, actor=cli_actor(), action="cache.clear", target=tenant_name, before=None,
                               after={"model": model, "removed": removed})
        return removed
    finally:
        await engine.dispose()


def _clear_over_http(settings: Settings, args: argparse.Namespace) -> dict[str, int]:
    key = settings.admin_key.get_secret_value() if settings.admin_key else ""
    response = httpx.post(f"{args.url.rstrip('/')}/admin/cache/clear",
                          json={"tenant": args.tenant, "model": args.model},
                          headers={"Authorization": f"Bearer {key}"}, timeout=30)
    if response.status_code != 200:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        raise TenancyError(f"{response.status_code}: {message}")
    removed: dict[str, int] = response.json()["removed"]
    return removed
