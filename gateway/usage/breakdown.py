"""One statement for a whole dashboard: totals, and the same sums by day, tenant, feature and
model, over a time range and optional filters. The admin console's overview and usage pages
read it; a page costs one query whatever the range.

Each grouping reads the coarsest rollup that answers it exactly (gateway/usage/tables.py):
  - by (tenant, feature, model): whole calendar months from `usage_monthly`, the days before
    the first whole month and after the last one from `usage_daily`;
  - by day: `usage_daily_tenant` (day x tenant), or `usage_daily` when the range is
    filtered by feature or model;
  - a partial day at an edge of the range (the first day of "the last 24 hours") from
    `usage_records` through its ts index, as in gateway/usage/reports.py.
So a year is ~12 x (tenant, feature, model, provider) monthly rows, ~1 month of daily rows
and 365 x tenants day rows, not every daily row of the year. The two groupings are unioned
into one statement (the same SQL on PostgreSQL and SQLite; the partial days' records are
summed once, in a common table expression both read); the sums by tenant, feature and model
are merged from the second here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.usage.reports import Totals, _split
from gateway.usage.tables import usage_daily, usage_daily_tenant, usage_monthly, usage_records

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
    by_day: list[sa.Select[Any]] = []
    by_combo: list[sa.Select[Any]] = []
    if days is not None:
        first, last = days
        months, edge_days = _whole_months(first, last)
        if months is not None:
            by_combo.append(_rollup_part(usage_monthly, "month", *months, filters))
        by_combo += [_rollup_part(usage_daily, "day", start, end, filters) for start, end in edge_days]
        narrow = filters.feature is None and filters.model is None
        by_day.append(_rollup_part(usage_daily_tenant if narrow else usage_daily, "day", first, last, filters))
    async with engine.connect() as conn:
        postgres = conn.dialect.name == "postgresql"
        if edges:      # the partial days' records, summed once, feed both groupings
            records = sa.union_all(*(_records_part(start, end, filters, postgres) for start, end in edges)).cte("rec")
            shared = sa.select(*records.c)
            by_day.append(shared)
            by_combo.append(shared)
        rows = (await conn.execute(_two_groupings(by_day, by_combo))).all()
    return _assemble(rows)


def _whole_months(first: date, last: date | None) -> tuple[tuple[date, date | None] | None,
                                                           list[tuple[date, date | None]]]:
    """The days [first, last) as whole calendar months [m1, m2) (None: none) and the day
    ranges outside them. An open end (last None) takes the current month whole: the days
    after today have no rows."""
    start = first if first.day == 1 else _next_month(first)
    end = last.replace(day=1) if last is not None else None
    if end is not None and start >= end:
        return None, [(first, last)]
    edges: list[tuple[date, date | None]] = []
    if first < start:
        edges.append((first, start))
    if last is not None and end is not None and end < last:
        edges.append((end, last))
    return (start, end), edges


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _rollup_part(table: sa.Table, key: str, first: date, last: date | None, filters: Filters) -> sa.Select[Any]:
    t = table.c
    where = [t[key] >= first, *([t[key] < last] if last is not None else []), *_where(t, filters)]
    day = t.day if key == "day" else sa.cast(sa.null(), sa.Date)
    dims = [t[name] if name in t else sa.cast(sa.null(), sa.String) for name in ("tenant", "feature", "model")]
    return sa.select(day.label("day"), *(d.label(n) for d, n in
                     zip(dims, ("tenant", "feature", "model"), strict=True)),
                     *(t[name] for name in _SUMS)).where(*where)


def _records_part(start: datetime, end: datetime | None, filters: Filters, postgres: bool) -> sa.Select[Any]:
    t = usage_records.c
    hit = t.cache_hit
    day = sa.cast(sa.func.timezone("UTC", t.ts), sa.Date) if postgres else sa.func.date(t.ts)
    feature, model = sa.func.coalesce(t.feature, ""), sa.func.coalesce(t.model, "")

    def billed(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.func.sum(sa.case((hit, 0), else_=column))

    where = [t.ts >= start, *([t.ts < end] if end is not None else []), *_where(t, filters)]
    sums = (sa.func.count(), sa.func.sum(sa.case((t.status != "ok", 1), else_=0)),
            billed(t.prompt_tokens), billed(t.completion_tokens), billed(t.cached_tokens),
            sa.func.sum(sa.case((hit, 1), else_=0)),
            sa.func.sum(sa.case((hit, t.prompt_tokens + t.completion_tokens), else_=0)),
            sa.func.sum(t.cost_usd))
    return (sa.select(day.label("day"), t.tenant, feature.label("feature"),
                      model.label("model"), *(value.label(name) for value, name in zip(sums, _SUMS, strict=True)))
            .where(*where).group_by(day, t.tenant, feature, model))


def _two_groupings(by_day: list[sa.Select[Any]], by_combo: list[sa.Select[Any]]) -> sa.Select[Any]:
    """The parts aggregated by day and by (tenant, feature, model), in one statement. Each
    rollup part streams into its own aggregate (no shared intermediate to write and read)."""
    days = (sa.union_all(*by_day) if len(by_day) > 1 else by_day[0]).subquery("days")
    combos = (sa.union_all(*by_combo) if len(by_combo) > 1 else by_combo[0]).subquery("combos")
    d, c = days.c, combos.c
    return sa.union_all(  # type: ignore[return-value]
        sa.select(sa.true(), sa.cast(d.day, sa.String), sa.null(), sa.null(), sa.null(),
                  *(sa.func.sum(d[name]) for name in _SUMS)).group_by(d.day),
        sa.select(sa.false(), sa.null(), c.tenant, c.feature, c.model,
                  *(sa.func.sum(c[name]) for name in _SUMS)).group_by(c.tenant, c.feature, c.model))


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
