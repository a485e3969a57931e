"""`llm-gateway prompts create|version|label|list|show|diff`: the prompt registry, run against
the database directly (GATEWAY_DATABASE_URL), as `tenants` and `keys` are. Each command names
the owner: `--tenant <name>`, or `--shared` for a prompt every tenant may call as
`shared/<id>`. With GATEWAY_REDIS_URL set, a change reaches running gateways at once;
without it, within their prompt cache TTL (1 s by default).

    llm-gateway prompts create support-triage --tenant acme --file triage.yaml
    llm-gateway prompts label support-triage production 1 --tenant acme
    llm-gateway prompts diff support-triage 1 2 --tenant acme
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

from gateway.db import create_engine, migrate, require_existing_database
from gateway.errors import GatewayError
from gateway.prompts.service import PromptService
from gateway.settings import Settings
from gateway.tenancy.changes import ChangeFeed
from gateway.tenancy.validation import TenancyError

Command = Callable[[PromptService, argparse.Namespace, dict[str, Any]], Awaitable[int]]


def register(commands: Any) -> None:
    prompts = commands.add_parser("prompts", help="versioned prompts: create, version, label, list, show, diff")
    sub = prompts.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="create a prompt; --file is its version 1")
    create.add_argument("prompt_id", help="a slug, e.g. support-triage")
    _owner(create)
    create.add_argument("--file", required=True, type=Path, help="the version's content (YAML or JSON)")
    create.add_argument("--description", help="what the prompt is for")
    create.set_defaults(run=_runner(_create))
    version = sub.add_parser("version", help="add the next version from --file (labels do not move)")
    version.add_argument("prompt_id")
    _owner(version)
    version.add_argument("--file", required=True, type=Path)
    version.set_defaults(run=_runner(_version))
    label = sub.add_parser("label", help="point a label (production, staging, ...) at a version")
    label.add_argument("prompt_id")
    label.add_argument("label")
    label.add_argument("version", type=int)
    _owner(label)
    label.set_defaults(run=_runner(_label))
    listing = sub.add_parser("list", help="a tenant's prompts (or the shared ones)")
    _owner(listing)
    listing.add_argument("--format", choices=("table", "json"), default="table",
                         help="table (people, the default) or json (programs)")
    listing.set_defaults(run=_runner(_list))
    show = sub.add_parser("show", help="a prompt's versions and labels; with --version, that version's content")
    show.add_argument("prompt_id")
    _owner(show)
    show.add_argument("--version", help="a version number, a label or latest")
    show.set_defaults(run=_runner(_show))
    diff = sub.add_parser("diff", help="a unified diff of two versions (numbers or labels)")
    diff.add_argument("prompt_id")
    diff.add_argument("old")
    diff.add_argument("new")
    _owner(diff)
    diff.set_defaults(run=_runner(_diff))


def _owner(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--tenant", help="the tenant that owns the prompt")
    group.add_argument("--shared", action="store_true", help="a shared prompt (callable as shared/<id>)")


def _runner(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return asyncio.run(_with_service(command, args))
    return run


async def _with_service(command: Command, args: argparse.Namespace) -> int:
    from gateway.cli.tenants import cli_actor

    settings = Settings()
    if settings.embedded:
        require_existing_database(settings.database_url)
        await migrate(settings.database_url)
    engine = create_engine(settings.database_url)
    changes = ChangeFeed(settings.redis_url, apply=None)
    service = PromptService(engine, publish=changes.publish)
    who = {"actor": cli_actor(), "request_id": f"cli_{uuid.uuid4().hex}"}
    try:
        return await command(service, args, who)
    except (TenancyError, OSError, yaml.YAMLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except GatewayError as exc:     # a content or label check: names the field
        print(f"error: {exc.message}" + (f" ({exc.param})" if exc.param else ""), file=sys.stderr)
        return 1
    finally:
        await changes.close()
        await engine.dispose()


def _content(path: Path) -> Any:
    """A version's content from YAML or JSON (JSON is read as the YAML it also is)."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def _tenant(args: argparse.Namespace) -> str | None:
    return None if args.shared else str(args.tenant)


async def _create(service: PromptService, args: argparse.Namespace, who: dict[str, Any]) -> int:
    _print(await service.create(args.prompt_id, _content(args.file), tenant=_tenant(args),
                                description=args.description, **who))
    return 0


async def _version(service: PromptService, args: argparse.Namespace, who: dict[str, Any]) -> int:
    created = await service.add_version(args.prompt_id, _content(args.file), tenant=_tenant(args), **who)
    print(f"{created['id']}: version {created['version']} created (labels unchanged; "
          f"`prompts label {args.prompt_id} production {created['version']}` to ship it)")
    return 0


async def _label(service: PromptService, args: argparse.Namespace, who: dict[str, Any]) -> int:
    moved = await service.set_label(args.prompt_id, args.label, args.version, tenant=_tenant(args), **who)
    was = f" (was {moved['previous']})" if moved["previous"] is not None else ""
    print(f"{moved['prompt']}: {moved['label']} -> version {moved['version']}{was}")
    return 0


async def _list(service: PromptService, args: argparse.Namespace, who: dict[str, Any]) -> int:
    rows = await service.list_prompts(tenant=_tenant(args))
    if args.format == "json":
        _print(rows)
        return 0
    header = ["id", "latest_version", "labels", "description"]
    cells = [[str(row["id"]), str(row["latest_version"] or ""),
              ",".join(f"{k}={v}" for k, v in row["labels"].items()), row["description"] or ""] for row in rows]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    for line in [[h.upper() for h in header], *cells]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    return 0


async def _show(service: PromptService, args: argparse.Namespace, who: dict[str, Any]) -> int:
    if args.version is None:
        _print(await service.show(args.prompt_id, tenant=_tenant(args)))
    else:
        _print(await service.get_version(args.prompt_id, args.version, tenant=_tenant(args)))
    return 0


async def _diff(service: PromptService, args: argparse.Namespace, who: dict[str, Any]) -> int:
    sys.stdout.write((await service.diff(args.prompt_id, args.old, args.new, tenant=_tenant(args)))["diff"])
    return 0
