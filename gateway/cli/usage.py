"""`llm-gateway usage`: who spent what -- by tenant, model, provider, feature and day, with
totals -- read from the database (GATEWAY_DATABASE_URL), as a table, CSV or JSON.

    llm-gateway usage --since 30d --group-by tenant,feature,day --format csv > spend.csv
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from gateway.db import create_engine, migrate, require_existing_database
from gateway.settings import Settings
from gateway.usage.formatting import FORMATS, render
from gateway.usage.reports import GROUP_BY_FIELDS, ReportError, UsageQuery, parse_group_by, parse_time, run_report


def register(commands: Any) -> None:
    usage = commands.add_parser("usage", help="usage and cost report",
                                description="Usage and cost, filtered and grouped, with totals. Times are UTC.")
    usage.add_argument("--tenant", help="only this tenant")
    usage.add_argument("--feature", help="only this feature (x-gateway-feature / metadata.feature)")
    usage.add_argument("--model", help="only this model (the one that answered)")
    usage.add_argument("--since", default="7d",
                       help="start: Nd = the last N UTC days, today included (default 7d); Nh, Nm; a date or ISO time")
    usage.add_argument("--until", help="end (exclusive), same forms as --since; default: now")
    usage.add_argument("--group-by", default="", help=f"comma-separated: {','.join(GROUP_BY_FIELDS)}")
    usage.add_argument("--format", choices=FORMATS, default="table")
    usage.set_defaults(run=run_usage)


def query_from_args(args: argparse.Namespace, now: datetime) -> UsageQuery:
    return UsageQuery(since=parse_time(args.since, now),
                      until=parse_time(args.until, now) if args.until else None,
                      tenant=args.tenant, feature=args.feature, model=args.model,
                      group_by=parse_group_by(args.group_by))


def run_usage(args: argparse.Namespace) -> int:
    try:
        query = query_from_args(args, datetime.now(UTC))
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        sys.stdout.write(asyncio.run(_report(query, args.format)))
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


async def _report(query: UsageQuery, fmt: str) -> str:
    settings = Settings()
    if settings.embedded:
        require_existing_database(settings.database_url)
        await migrate(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        return render(await run_report(engine, query), fmt)
    finally:
        await engine.dispose()
