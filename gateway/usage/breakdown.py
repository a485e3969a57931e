"""One statement for a whole dashboard: totals, and the same sums by day, tenant, feature and
model, over a time range and optional filters. The admin console's overview and usage pages
read it; a page costs one query whatever the range.

Whole UTC days come from the `usage_daily` rollup; only a partial day at an edge of the range
(the first day of "the last 24 hours") is summed from `usage_records` through its ts index, as
in gateway/usage/reports.py. The database aggregates two ways -- by day, and by (tenant,
feature, model) -- in one statement (GROUPING SETS on PostgreSQL, one scan of the rollup; a
union over a common table expression on SQLite); the sums by tenant, feature and model are
merged from the second here.
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
    parts: list[sa.Select[Any]] = []
    if days is not None:
        parts.append(_rollup_part(*days, filters))
    async with engine.connect() as conn:
        postgres = conn.dialect.name == "postgresql"
        parts += [_records_part(start, end, filters, postgres) for start, end in edges]
        union = sa.union_all(*parts) if len(parts) > 1 else parts[0]
        statement = _grouping_sets(union.subquery("src")) if postgres else _unioned(union.cte("src"))
        rows = (await conn.execute(statement)).all()
    return _assemble(rows)


def _rollup_part(first: Any, last: Any, filters: Filters) -> sa.Select[Any]:
    t = usage_daily.c
    where = [t.day >= first, *([t.day < last] if last is not None else []), *_where(t, filters)]
    return sa.select(t.day, t.tenant, t.feature, t.model, *(t[name] for name in _SUMS)).where(*where)


def _records_part(start: datetime, end: datetime | None, filters: Filters, postgres: bool) -> sa.Select[Any]:
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


def _grouping_sets(source: sa.Subquery) -> sa.Select[Any]:
    """PostgreSQL: one scan, two groupings -- by day, and by (tenant, feature, model)."""
    c = source.c
    sums = [sa.func.sum(c[name]) for name in _SUMS]
    sets = sa.func.grouping_sets(sa.tuple_(c.day), sa.tuple_(c.tenant, c.feature, c.model))
    return sa.select(sa.func.grouping(c.day) == 0, sa.cast(c.day, sa.String), c.tenant, c.feature, c.model,
                     *sums).group_by(sets)


def _unioned(source: sa.CTE) -> sa.Select[Any]:
    """SQLite (no GROUPING SETS): the same two groupings over one CTE, unioned."""
    c = source.c
    sums = [sa.func.sum(c[name]) for name in _SUMS]
    by_day = sa.select(sa.true(), sa.cast(c.day, sa.String), sa.null(), sa.null(), sa.null(), *sums).group_by(c.day)
    by_combo = (sa.select(sa.false(), sa.null(), c.tenant, c.feature, c.model, *sums)
                .group_by(c.tenant, c.feature, c.model))
    return sa.union_all(by_day, by_combo)  # type: ignore[return-value]


def _assemble(rows: Sequence[sa.Row[tuple[Any, ...]]]) -> Breakdown:
    """Totals and the day series from the day rows; tenant, feature and model sums from the
    (tenant, feature, model) rows, merged here: there are only as many of those as the range
    has combinations, and PostgreSQL then aggregates the rollup two ways instead of five."""
    result = Breakdown()
    merged: dict[str, dict[str, Totals]] = {"tenant": {}, "feature": {}, "model": {}}
    for row in rows:
        is_day, day, tenant, feature, model, *values = tuple(row)
        if not values[0]:
            continue
        totals = _totals(values)
        if is_day:
            result.by["day"].append((_key(day), totals))
            result.totals.add(totals)
            continue
        for dimension, key in (("tenant", tenant), ("feature", feature), ("model", model)):
            bucket = merged[dimension]
            known = bucket.get(_key(key))
            if known is None:
                bucket[_key(key)] = _totals(values)
            else:
                known.add(totals)
    for dimension, bucket in merged.items():
        result.by[dimension] = list(bucket.items())
    result.by["day"].sort()
    return result


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
