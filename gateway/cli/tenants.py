"""`llm-gateway tenants ...` and `llm-gateway keys ...`: the same operations as the admin
API, run against the database directly (GATEWAY_DATABASE_URL)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.catalog import load_catalog
from gateway.db import create_engine, migrate
from gateway.settings import Settings
from gateway.tenancy.service import TenancyError, TenancyService


def register(commands: Any) -> None:
    tenants = commands.add_parser("tenants", help="create, list and show tenants")
    sub = tenants.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="create a tenant")
    create.add_argument("name")
    create.add_argument("--tier", default="free")
    create.add_argument("--models", default="", help="comma-separated models, aliases or globs (gpt-4o*)")
    for limit in ("rpm", "rpd", "tpm", "daily-tokens"):
        create.add_argument(f"--{limit}", type=int)
    create.add_argument("--monthly-usd", type=float)
    create.set_defaults(run=_runner(_tenants_create))
    sub.add_parser("list", help="list tenants").set_defaults(run=_runner(_tenants_list))
    show = sub.add_parser("show", help="show one tenant")
    show.add_argument("name")
    show.set_defaults(run=_runner(_tenants_show))

    keys = commands.add_parser("keys", help="create, list and revoke API keys")
    ksub = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    kcreate = ksub.add_parser("create", help="issue a key (printed once; only its hash is stored)")
    kcreate.add_argument("--tenant", required=True)
    kcreate.add_argument("--label")
    kcreate.set_defaults(run=_runner(_keys_create))
    klist = ksub.add_parser("list", help="list a tenant's keys")
    klist.add_argument("--tenant", required=True)
    klist.set_defaults(run=_runner(_keys_list))
    krevoke = ksub.add_parser("revoke", help="revoke a key by id")
    krevoke.add_argument("key_id")
    krevoke.set_defaults(run=_runner(_keys_revoke))


Command = Callable[[TenancyService, argparse.Namespace], Awaitable[int]]


def _runner(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return asyncio.run(_with_service(command, args))
    return run


async def _with_service(command: Command, args: argparse.Namespace) -> int:
    settings = Settings()
    catalog = load_catalog(settings.config)
    if settings.embedded:
        await migrate(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        return await command(TenancyService(engine, tiers=list(catalog.tiers)), args)
    except TenancyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


async def _tenants_create(service: TenancyService, args: argparse.Namespace) -> int:
    limits = {name: getattr(args, name) for name in ("rpm", "rpd", "tpm", "daily_tokens", "monthly_usd")
              if getattr(args, name) is not None}
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    _print(await service.create_tenant(args.name, tier=args.tier, models=models, limits=limits))
    return 0


async def _tenants_list(service: TenancyService, args: argparse.Namespace) -> int:
    for tenant in await service.list_tenants():
        state = "disabled" if tenant["disabled"] else "active"
        print(f"{tenant['name']:<24} {tenant['tier']:<12} {state:<9} {','.join(tenant['models'])}")
    return 0


async def _tenants_show(service: TenancyService, args: argparse.Namespace) -> int:
    _print(await service.get_tenant(args.name))
    return 0


async def _keys_create(service: TenancyService, args: argparse.Namespace) -> int:
    issued = await service.create_key(args.tenant, label=args.label)
    print(f"key id: {issued.id}")
    print(f"api key (shown once, store it now): {issued.key}")
    return 0


async def _keys_list(service: TenancyService, args: argparse.Namespace) -> int:
    for key in await service.list_keys(args.tenant):
        state = "revoked" if key["revoked_at"] else "active"
        print(f"{key['id']}  {key['prefix']:<24} {state:<8} {key['label'] or ''}")
    return 0


async def _keys_revoke(service: TenancyService, args: argparse.Namespace) -> int:
    row = await service.revoke_key(args.key_id)
    print(f"revoked {row['id']} ({row['prefix']})")
    return 0
