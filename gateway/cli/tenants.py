"""`llm-gateway tenants|keys|audit|admin-key ...`: the same operations as the admin API, run
against the database directly (GATEWAY_DATABASE_URL).

The CLI has no running directory to refresh; with GATEWAY_REDIS_URL set it publishes each
change so that running gateways apply it at once, and without Redis they apply it within
their key cache TTL (1 s by default).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.catalog import Catalog, load_catalog
from gateway.db import create_engine, migrate, require_existing_database
from gateway.settings import Settings
from gateway.tenancy.admin_key import reset_admin_key
from gateway.tenancy.changes import ChangeFeed
from gateway.tenancy.durations import parse_duration
from gateway.tenancy.effective import effective_view
from gateway.tenancy.models import LIMIT_NAMES
from gateway.tenancy.service import IssuedKey, TenancyError, TenancyService

_UNLIMITED = "unlimited"
_TIER = "tier"


def register(commands: Any) -> None:
    tenants = commands.add_parser("tenants", help="create, list, show, update and disable tenants")
    sub = tenants.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="create a tenant")
    create.add_argument("name")
    create.add_argument("--tier", default="free", help="a tier of gateway.yaml `tiers:` (default free)")
    create.add_argument("--models", default="", help="comma-separated models, aliases or globs (gpt-4o*)")
    _policy_options(create)
    create.set_defaults(run=_runner(_tenants_create))
    tlist = sub.add_parser("list", help="list tenants")
    _format_option(tlist)
    tlist.set_defaults(run=_runner(_tenants_list))
    show = sub.add_parser("show", help="show one tenant")
    show.add_argument("name")
    show.set_defaults(run=_runner(_tenants_show))
    update = sub.add_parser("update", help="change a tenant's tier, allowlist, limits or policies")
    update.add_argument("name")
    update.add_argument("--tier", help="move to another tier of gateway.yaml `tiers:`")
    update.add_argument("--models", help="replace the allowlist (comma-separated models, aliases or globs)")
    _policy_options(update)
    update.add_argument("--enable", action="store_true", help="re-enable a disabled tenant")
    update.set_defaults(run=_runner(_tenants_update))
    disable = sub.add_parser("disable", help="disable a tenant: all its keys answer 401")
    disable.add_argument("name")
    disable.set_defaults(run=_runner(_tenants_disable))

    keys = commands.add_parser("keys", help="create, list, revoke and rotate API keys")
    ksub = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    kcreate = ksub.add_parser("create", help="issue a key (printed once; only its hash is stored)")
    kcreate.add_argument("--tenant", required=True)
    kcreate.add_argument("--label")
    kcreate.add_argument("--expires-in", type=_duration, help="e.g. 30d, 12h (default: never)")
    for limit in LIMIT_NAMES:
        kcreate.add_argument(f"--{limit.replace('_', '-')}", dest=limit, type=_limit,
                             help=f"this key's own {limit}, counted for the key alone on top of its tenant's")
    kcreate.set_defaults(run=_runner(_keys_create))
    klist = ksub.add_parser("list", help="list a tenant's keys")
    klist.add_argument("--tenant", required=True)
    _format_option(klist)
    klist.set_defaults(run=_runner(_keys_list))
    krevoke = ksub.add_parser("revoke", help="revoke a key by id, now")
    krevoke.add_argument("key_id")
    krevoke.set_defaults(run=_runner(_keys_revoke))
    krotate = ksub.add_parser("rotate", help="issue a replacement key; the old one works for --grace more")
    krotate.add_argument("key_id")
    krotate.add_argument("--grace", type=_grace, default=parse_duration("1h"), help="e.g. 1h, 15m, 0s")
    krotate.add_argument("--expires-in", type=_duration, help="expiry of the new key (default: never)")
    krotate.set_defaults(run=_runner(_keys_rotate))

    audit = commands.add_parser("audit", help="who changed what (newest first)")
    audit.add_argument("--target", help="a tenant name or key id")
    audit.add_argument("--action", help="e.g. key.revoke, tenant.update")
    audit.add_argument("--limit", type=int, default=50)
    audit.set_defaults(run=_runner(_audit))

    admin = commands.add_parser("admin-key", help="manage the stored admin key")
    asub = admin.add_subparsers(dest="action", required=True, metavar="ACTION")
    asub.add_parser("reset", help="replace the stored admin key and print the new one once").set_defaults(
        run=_runner(_admin_key_reset))


def _format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="table (people, the default) or json (programs)")


def _print_rows(args: argparse.Namespace, header: list[str], rows: list[dict[str, Any]]) -> None:
    """A listing as JSON (every field) or as an aligned table with a header row."""
    if args.format == "json":
        _print(rows)
        return
    cells = [[str(row[name] if row[name] is not None else "") for name in header] for row in rows]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    for line in [[h.upper() for h in header], *cells]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def _policy_options(parser: argparse.ArgumentParser) -> None:
    for limit in LIMIT_NAMES:
        parser.add_argument(f"--{limit.replace('_', '-')}", dest=limit, type=_limit,
                            help=f"override the tier's {limit}: a number, '{_UNLIMITED}', or '{_TIER}' (drop it)")
    parser.add_argument("--pii-mode", help="redact, block, monitor, off, or default (the catalog's)")
    parser.add_argument("--cache-mode", help="exact, semantic, off, or default (the catalog's)")
    parser.add_argument("--validation-mode",
                        help="an answer that fails its JSON Schema: pass, retry, reject, or default (the catalog's)")


def _limit(text: str) -> float | int | str:
    if text in (_UNLIMITED, _TIER):
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number, {_UNLIMITED!r} or {_TIER!r}") from None
    return int(value) if value.is_integer() else value


def _duration(text: str, *, allow_zero: bool = False) -> Any:
    try:
        return parse_duration(text, allow_zero=allow_zero)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _grace(text: str) -> Any:
    return _duration(text, allow_zero=True)


class _Cli:
    """What one command needs: the service (publishing changes when Redis is configured)."""

    def __init__(self, service: TenancyService, settings: Settings, engine: AsyncEngine, catalog: Catalog) -> None:
        self.service = service
        self.catalog = catalog
        self.engine = engine
        self.settings = settings
        self.request_id = f"cli_{uuid.uuid4().hex}"
        self.actor = cli_actor()


def cli_actor() -> str:
    """Who a CLI change is recorded as: the operating-system user, `cli:<user>`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):       # no passwd entry (a container's random uid)
        user = "unknown"
    return f"cli:{user}"[:64]


Command = Callable[[_Cli, argparse.Namespace], Awaitable[int]]


def _runner(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return asyncio.run(_with_service(command, args))
    return run


async def _with_service(command: Command, args: argparse.Namespace) -> int:
    settings = Settings()
    catalog = load_catalog(settings.config)
    if settings.embedded:
        require_existing_database(settings.database_url)
        await migrate(settings.database_url)
    engine = create_engine(settings.database_url)
    changes = ChangeFeed(settings.redis_url, apply=None)
    service = TenancyService(engine, tiers=list(catalog.tiers), model_names=[*catalog.models, *catalog.aliases],
                             publish=changes.publish)
    try:
        return await command(_Cli(service, settings, engine, catalog), args)
    except TenancyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        await changes.close()
        await engine.dispose()


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _models(text: str) -> list[str]:
    return [m.strip() for m in text.split(",") if m.strip()]


def _limit_args(args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    """(overrides to set, overrides to drop) from --rpm ... --monthly-usd; None is unlimited."""
    given = {name: getattr(args, name) for name in LIMIT_NAMES if getattr(args, name, None) is not None}
    to_set = {name: None if value == _UNLIMITED else value for name, value in given.items() if value != _TIER}
    return to_set, [name for name, value in given.items() if value == _TIER]


async def _tenants_create(cli: _Cli, args: argparse.Namespace) -> int:
    limits, dropped = _limit_args(args)
    if dropped:
        raise TenancyError(f"'{_TIER}' only makes sense for `tenants update`")
    created = await cli.service.create_tenant(args.name, tier=args.tier, models=_models(args.models), limits=limits,
                                              pii_mode=args.pii_mode, cache_mode=args.cache_mode,
                                              validation_mode=args.validation_mode, actor=cli.actor,
                                              request_id=cli.request_id)
    _print(created)
    _warn_if_it_may_call_nothing(cli, created)
    return 0


def _warn_if_it_may_call_nothing(cli: _Cli, tenant: dict[str, Any]) -> None:
    if not effective_view(tenant, cli.catalog)["callable_models"]:
        print(f"warning: tenant {tenant['name']!r} may call no model: every request will get 403 and /v1/models "
              f"is empty. Give it an allowlist: llm-gateway tenants update {tenant['name']} --models 'mock-echo,auto' "
              "(names, aliases or globs; '*' for all)", file=sys.stderr)


async def _tenants_list(cli: _Cli, args: argparse.Namespace) -> int:
    tenants = await cli.service.list_tenants()
    if args.format == "table":
        tenants = [{**t, "state": "disabled" if t["disabled"] else "active", "models": ",".join(t["models"])}
                   for t in tenants]
    _print_rows(args, ["name", "tier", "state", "models"], tenants)
    return 0


async def _tenants_show(cli: _Cli, args: argparse.Namespace) -> int:
    _print(effective_view(await cli.service.get_tenant(args.name), cli.catalog))
    return 0


async def _tenants_update(cli: _Cli, args: argparse.Namespace) -> int:
    limits, dropped = _limit_args(args)
    updated = await cli.service.update_tenant(
        args.name, tier=args.tier, models=_models(args.models) if args.models is not None else None,
        limits=limits, clear_limits=dropped, pii_mode=args.pii_mode, cache_mode=args.cache_mode,
        validation_mode=args.validation_mode,
        disabled=False if args.enable else None, actor=cli.actor, request_id=cli.request_id)
    _print(updated)
    _warn_if_it_may_call_nothing(cli, updated)
    return 0


async def _tenants_disable(cli: _Cli, args: argparse.Namespace) -> int:
    _print(await cli.service.disable_tenant(args.name, actor=cli.actor, request_id=cli.request_id))
    return 0


def _print_issued(issued: IssuedKey) -> None:
    print(f"key id: {issued.id}")
    if issued.expires_at is not None:
        print(f"expires at: {issued.expires_at.isoformat()}")
    print(f"api key (shown once, store it now): {issued.key}")


async def _keys_create(cli: _Cli, args: argparse.Namespace) -> int:
    key_limits, _ = _limit_args(args)
    _print_issued(await cli.service.create_key(args.tenant, label=args.label, expires_in=args.expires_in,
                                               limits=key_limits,
                                               actor=cli.actor, request_id=cli.request_id))
    return 0


async def _keys_list(cli: _Cli, args: argparse.Namespace) -> int:
    keys = await cli.service.list_keys(args.tenant)
    if args.format == "table":
        keys = [{**k, "last_used_at": k["last_used_at"] or "never", "expires_at": k["expires_at"] or "never"}
                for k in keys]
    _print_rows(args, ["id", "prefix", "state", "last_used_at", "expires_at", "label"], keys)
    return 0


async def _keys_revoke(cli: _Cli, args: argparse.Namespace) -> int:
    row = await cli.service.revoke_key(args.key_id, actor=cli.actor, request_id=cli.request_id)
    print(f"revoked {row['id']} ({row['prefix']})")
    return 0


async def _keys_rotate(cli: _Cli, args: argparse.Namespace) -> int:
    issued, old = await cli.service.rotate_key(args.key_id, grace=args.grace, expires_in=args.expires_in,
                                               actor=cli.actor, request_id=cli.request_id)
    print(f"old key {old['id']} ({old['prefix']}) stops working at {old['revoked_at']}")
    _print_issued(issued)
    return 0


async def _audit(cli: _Cli, args: argparse.Namespace) -> int:
    for entry in await cli.service.list_audit(target=args.target, action=args.action, limit=args.limit):
        print(json.dumps(entry, default=str))
    return 0


async def _admin_key_reset(cli: _Cli, args: argparse.Namespace) -> int:
    key = await reset_admin_key(cli.engine, actor=cli.actor, request_id=cli.request_id)
    print(f"admin key (shown once, store it now): {key}")
    if cli.settings.admin_key is not None:
        print("note: GATEWAY_ADMIN_KEY is set here; gateways started with it ignore the stored key",
              file=sys.stderr)
    return 0
