"""One statement for a whole dashboard: totals, and the same sums by day, tenant, feature and
model, over a time range and optional filters. The admin console's overview and usage pages
read it; a page costs one query whatever the range.

Whole UTC days come from the `usage_daily` rollup; only a partial day at an edge of the range
(the first day of "the last 24 hours") is summed from `usage_records` through its ts index, as
in gateway/usage/reports.py. On PostgreSQL one GROUPING SETS aggregate gives every dimension
in one scan of the rollup; SQLite, which has no grouping sets, unions one aggregate per
dimension over a common table expression.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.usage.reports import Totals, _split
from gateway.usage.tables import usage_daily, usage_records

DIMENSIONS = ("day", "tenant", "feature", "model")
_SUMS = ("requests", "errors", "prompt_tokens", "completion_tokens", "cached_tokens", "cache_hits",
         "saved_tokens", "cost_usd")


@dataclass(frozen=True, slots=True)
class Filters:
    tenant: str | None = None
    feature: str | None = None
    model: str | None = None


@dataclass(slots=True)
class Breakdown:
    totals: Totals = field(default_factory=Totals)
    by: dict[str, list[tuple[str, Totals]]] = field(default_factory=lambda: {d: [] for d in DIMENSIONS})

    def top(self, dimension: str, n: int) -> list[tuple[str, Totals]]:
        """The largest first: by spend, then by requests."""
        rows = sorted(self.by[dimension], key=lambda r: (r[1].cost_usd, r[1].requests), reverse=True)
        return rows[:n]


async def breakdown(engine: AsyncEngine, since: datetime, until: datetime | None = None,
                    filters: Filters = Filters()) -> Breakdown:
    since = since.astimezone(UTC)
    until = until.astimezone(UTC) if until is not None else None
    days, edges = _split(since, until)
    parts: list[sa.Select] = []
    if days is not None:
        parts.append(_rollup_part(*days, filters))
    async with engine.connect() as conn:
        postgres = conn.dialect.name == "postgresql"
        parts += [_records_part(start, end, filters, postgres) for start, end in edges]
        union = sa.union_all(*parts) if len(parts) > 1 else parts[0]
        statement = _grouping_sets(union.subquery("src")) if postgres else _unioned(union.cte("src"))
        rows = (await conn.execute(statement)).all()
    result = Breakdown()
    for dim, key, values in _rows(rows, postgres):
        if not values[0]:
            continue   # an aggregate over no rows at all still answers one row
        totals = _totals(values)
        if dim == "total":
            result.totals = totals
        else:
            result.by[dim].append((_key(key), totals))
    result.by["day"].sort()
    return result


def _rollup_part(first: Any, last: Any, filters: Filters) -> sa.Select:
    t = usage_daily.c
    where = [t.day >= first, *([t.day < last] if last is not None else []), *_where(t, filters)]
    return sa.select(t.day, t.tenant, t.feature, t.model, *(t[name] for name in _SUMS)).where(*where)


def _records_part(start: datetime, end: datetime | None, filters: Filters, postgres: bool) -> sa.Select:
    t = usage_records.c
    hit = t.cache_hit
    day = sa.cast(sa.func.timezone("UTC", t.ts), sa.Date) if postgres else sa.func.date(t.ts)
    feature, model = sa.func.coalesce(t.feature, ""), sa.func.coalesce(t.model, "")

    def billed(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.func.sum(sa.case((hit, 0), else_=column))

    where = [t.ts >= start, *([t.ts < end] if end is not None else []), *_where(t, filters)]
    return (sa.select(day, t.tenant, feature, model, sa.func.count(),
                      sa.func.sum(sa.case((t.status != "ok", 1), else_=0)),
                      billed(t.prompt_tokens), billed(t.completion_tokens), billed(t.cached_tokens),
                      sa.func.sum(sa.case((hit, 1), else_=0)),
                      sa.func.sum(sa.case((hit, t.prompt_tokens + t.completion_tokens), else_=0)),
                      sa.func.sum(t.cost_usd))
            .where(*where).group_by(day, t.tenant, feature, model))


# GROUPING(day, tenant, feature, model) of a row: a bit set for each column not grouped on.
_GROUPING_BITS = {0b0111: "day", 0b1011: "tenant", 0b1101: "feature", 0b1110: "model", 0b1111: "total"}


def _grouping_sets(source: sa.Subquery) -> sa.Select:
    """PostgreSQL: one scan, every dimension's sums by GROUPING SETS."""
    columns = [source.c[d] for d in DIMENSIONS]
    sums = [sa.func.sum(source.c[name]) for name in _SUMS]
    sets = sa.func.grouping_sets(sa.text("()"), *(sa.tuple_(c) for c in columns))
    return sa.select(sa.func.grouping(*columns), *columns, *sums).group_by(sets)


def _unioned(source: sa.CTE) -> sa.Select:
    """SQLite (no GROUPING SETS): each dimension's aggregate over the same CTE, unioned."""
    return sa.union_all(*(_by(source, d) for d in ("total", *DIMENSIONS)))  # type: ignore[return-value]


def _rows(rows: Sequence[sa.Row], postgres: bool) -> list[tuple[str, str, list[Any]]]:
    """(dimension, key, sums) from either statement's rows."""
    if not postgres:
        return [(row[0], row[1], list(row[2:])) for row in rows]
    out = []
    for row in rows:
        dimension = _GROUPING_BITS[row[0]]
        key = "" if dimension == "total" else row[1 + DIMENSIONS.index(dimension)]
        out.append((dimension, key, list(row[1 + len(DIMENSIONS):])))
    return out


def _by(source: sa.CTE, dimension: str) -> sa.Select:
    sums = [sa.func.sum(source.c[name]) for name in _SUMS]
    if dimension == "total":
        return sa.select(sa.literal("total"), sa.literal(""), *sums)
    key = source.c[dimension]
    return sa.select(sa.literal(dimension), sa.cast(key, sa.String), *sums).group_by(key)


def _where(columns: Any, filters: Filters) -> list[Any]:
    return [columns[name] == value for name in ("tenant", "feature", "model")
            if (value := getattr(filters, name)) is not None]


def _key(value: Any) -> str:
    return "" if value is None else str(value)


def _totals(values: list[Any]) -> Totals:
    requests, errors, prompt, completion, cached, hits, saved, cost = values
    return Totals(int(requests), int(errors or 0), int(prompt or 0), int(completion or 0), int(cached or 0),
                  int(hits or 0), int(saved or 0), Decimal(cost or 0))


@dataclass(frozen=True, slots=True)
class BudgetUsed:
    """What a tenant has used of its limits now, as recorded: requests in the last minute,
    tokens today (UTC) and USD this calendar month."""

    requests_this_minute: int
    tokens_today: int
    usd_this_month: Decimal


async def budget_used(engine: AsyncEngine, tenant: str, now: datetime | None = None) -> BudgetUsed:
    """One statement: the last minute from `usage_records` (its tenant, ts index), the day and
    the month from the rollup."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    today, month = now.date(), now.date().replace(day=1)
    r, d = usage_records.c, usage_daily.c
    minute = (sa.select(sa.func.count()).select_from(usage_records)
              .where(r.tenant == tenant, r.ts >= now - timedelta(seconds=60)).scalar_subquery())
    tokens = (sa.select(sa.func.coalesce(sa.func.sum(d.prompt_tokens + d.completion_tokens), 0))
              .where(d.tenant == tenant, d.day == today).scalar_subquery())
    spend = (sa.select(sa.type_coerce(sa.func.sum(d.cost_usd), usage_daily.c.cost_usd.type))
             .where(d.tenant == tenant, d.day >= month).scalar_subquery())
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(minute, tokens, spend))).one()
    return BudgetUsed(int(row[0] or 0), int(row[1] or 0), Decimal(row[2] or 0))
