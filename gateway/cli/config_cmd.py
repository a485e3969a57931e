"""`llm-gateway migrate` and `llm-gateway check-config PATH`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gateway.catalog import CatalogError, load_catalog, unset_env_refs
from gateway.db import migrate_sync
from gateway.settings import Settings


def register(commands: Any) -> None:
    migrate = commands.add_parser("migrate", help="alembic upgrade head on GATEWAY_DATABASE_URL")
    migrate.set_defaults(run=run_migrate)
    check = commands.add_parser("check-config", help="validate gateway.yaml and print what it defines")
    check.add_argument("path", type=Path)
    check.set_defaults(run=run_check_config)


def run_migrate(args: argparse.Namespace) -> int:
    settings = Settings()
    migrate_sync(settings.database_url)
    print("database schema is up to date")
    return 0


def run_check_config(args: argparse.Namespace) -> int:
    try:
        catalog = load_catalog(args.path)
    except CatalogError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{args.path}: ok")
    for line, name in unset_env_refs(args.path):
        print(f"warning: {args.path}:{line}: ${{{name}}} is not set, so it reads as empty "
              f"(set it, or write ${{{name}:-default}})", file=sys.stderr)
    print(f"providers: {', '.join(f'{n} ({p.type})' for n, p in catalog.providers.items())}")
    for name, model in catalog.models.items():
        deployments = ", ".join(f"{d.provider}:{d.upstream}" for d in model.deployments)
        print(f"model {name} [{model.kind}] in={model.price.input} out={model.price.output} USD/1M -> {deployments}")
    for name, alias in catalog.aliases.items():
        print(f"alias {name} -> {', '.join(alias.models) if alias.models else 'ranked by ' + str(alias.rank)}")
    print(f"tiers: {', '.join(catalog.tiers)}")
    pii = catalog.guardrails.pii
    print(f"guardrails: pii {pii.mode} ({', '.join(pii.types + [c.name for c in pii.custom])})")
    print(f"cache: {catalog.cache.mode}, ttl {catalog.cache.ttl_seconds}s, scope {catalog.cache.scope}")
    return 0
