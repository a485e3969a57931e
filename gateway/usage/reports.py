"""Usage reports: filters (tenant, feature, model, time range), group-by (tenant, model,
provider, feature, day, api) and totals, the same for the CLI and the admin API.

Whole UTC days are read from the `usage_daily` rollup; only the partial days at the edges
of an explicit time range are summed from `usage_records` (through its ts index). The two
agree exactly, since the writer updates both in one transaction. An open-ended range (no
`until`) reads today from the rollup as well: it holds every record written so far.
Grouping by `api` (the client API: chat, responses, messages, completions, embeddings),
`prompt` or `version` (the stored prompt a request rendered, and which of its versions)
reads the whole range from `usage_records`, since the rollup has no such dimension. A
report grouped by prompt or version adds `validation_failures`: the records whose answer
failed its JSON Schema (validation `failed` or `rejected`).

Definitions: `requests` counts every recorded request (errors and rejections too);
`prompt_tokens`, `completion_tokens` and `cached_tokens` are billed tokens, cache hits
excluded; `saved_tokens` are the tokens cache hits answered without paying for them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.tenancy.tables import tenants
from gateway.usage.tables import usage_daily, usage_records

GROUP_BY_FIELDS = ("tenant", "model", "provider", "feature", "day", "api", "prompt", "version")
# Dimensions the daily rollup does not keep: a report grouped by one reads the records.
_RECORDS_ONLY = frozenset({"api", "prompt", "version"})
_PROMPT_DIMENSIONS = frozenset({"prompt", "version"})
_COLUMNS = {"prompt": "prompt_id", "version": "prompt_version"}     # group-by name -> records column
_FAILED_VALIDATION = ("failed", "rejected")
_RELATIVE = re.compile(r"^(\d+)([dhm])$")


class ReportError(ValueError):
    """A report request that cannot be answered as asked; the message says why."""


@dataclass(slots=True)
class Totals:
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_hits: int = 0
    saved_tokens: int = 0
    cost_usd: Decimal = field(default_factory=Decimal)
    validation_failures: int = 0       # records only (reports grouped by prompt or version show it)

    def add(self, other: Totals) -> None:
        # Spelled out: this runs once per group and partial, tens of thousands of times.
        self.requests += other.requests
        self.errors += other.errors
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cached_tokens += other.cached_tokens
        self.cache_hits += other.cache_hits
        self.saved_tokens += other.saved_tokens
        self.cost_usd += other.cost_usd
        self.validation_failures += other.validation_failures

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


METRICS = tuple(f.name for f in fields(Totals) if f.name != "validation_failures")
PROMPT_METRICS = (*METRICS, "validation_failures")
Group = tuple[str | None, ...]


@dataclass(frozen=True, slots=True)
class UsageQuery:
    since: datetime
    until: datetime | None = None        # None: up to now
    tenant: str | None = None
    feature: str | None = None
    model: str | None = None
    group_by: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = [g for g in self.group_by if g not in GROUP_BY_FIELDS]
        if unknown:
            raise ReportError(f"cannot group by {', '.join(unknown)}; choose from {', '.join(GROUP_BY_FIELDS)}")
        if len(set(self.group_by)) != len(self.group_by):
            raise ReportError("group-by names a field twice")
        if self.until is not None and self.until <= self.since:
            raise ReportError("the time range is empty: `since` must be before `until`")


@dataclass(slots=True)
class UsageReport:
    query: UsageQuery
    rows: list[tuple[Group, Totals]]
    totals: Totals

    @property
    def metrics(self) -> tuple[str, ...]:
        """The report's columns: grouped by prompt or version, with validation_failures."""
        return PROMPT_METRICS if _PROMPT_DIMENSIONS.intersection(self.query.group_by) else METRICS


def parse_group_by(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def parse_time(text: str, now: datetime) -> datetime:
    """`Nd` is the start of the UTC day N-1 days before today (`1d`: today, `7d`: the last
    seven calendar days, today included); `Nh` and `Nm` count back from now; a date or an
    ISO 8601 time (UTC unless it says otherwise) is taken as given."""
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        if unit == "d":
            if amount < 1:
                raise ReportError("a number of days starts at 1d (today)")
            return _midnight(now.date()) - timedelta(days=amount - 1)
        return now - (timedelta(hours=amount) if unit == "h" else timedelta(minutes=amount))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ReportError(f"`{text}` is not a time: use 7d, 24h, 30m, 2026-11-01 or an ISO 8601 time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _split(since: datetime, until: datetime | None) -> tuple[tuple[date, date | None] | None,
                                                               list[tuple[datetime, datetime | None]]]:
    """The whole days [first, last) for the rollup (last None: open) and the partial-day
    edges for the records."""
    first = since.date() if since == _midnight(since.date()) else since.date() + timedelta(days=1)
    last = until.date() if until is not None else None
    if last is not None and first >= last:
        return None, [(since, until)]
    edges: list[tuple[datetime, datetime | None]] = []
    if since < _midnight(first):
        edges.append((since, _midnight(first)))
    if until is not None and last is not None and until > _midnight(last):
        edges.append((_midnight(last), until))
    return (first, last), edges


class UnknownTenant(ReportError):
    """The report names a tenant that does not exist (a typo would otherwise read as zero spend)."""


async def run_report(engine: AsyncEngine, query: UsageQuery) -> UsageReport:
    since = query.since.astimezone(UTC)
    until = query.until.astimezone(UTC) if query.until is not None else None
    days, edges = _split(since, until)
    if _RECORDS_ONLY.intersection(query.group_by):
        days, edges = None, [(since, until)]
    async with engine.connect() as conn:
        if query.tenant is not None and await conn.scalar(
                sa.select(tenants.c.name).where(tenants.c.name == query.tenant)) is None:
            raise UnknownTenant(f"no tenant {query.tenant!r}")
        partials = []
        if days is not None:
            partials.append(await _from_rollup(conn, query, *days))
        for start, end in edges:
            partials.append(await _from_records(conn, query, start, end))
    if len(partials) == 1:
        merged = dict(partials[0])   # groups are unique within one query
    else:
        merged = {}
        for partial in partials:
            for group, totals in partial:
                if group in merged:
                    merged[group].add(totals)
                else:
                    merged[group] = totals
    rows = sorted(merged.items(), key=lambda item: tuple(_sort_key(v) for v in item[0]))
    grand = Totals()
    for _, totals in rows:
        grand.add(totals)
    return UsageReport(query=query, rows=rows, totals=grand)


def _sort_key(value: str | None) -> str:
    """Numbers (prompt versions) in numeric order: version 10 after version 9."""
    text = value or ""
    return text.zfill(12) if text.isdigit() else text


def _none_if_empty(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value.isoformat() if isinstance(value, date) else str(value)


async def _aggregate(conn: AsyncConnection, columns: Sequence[Any], sums: Sequence[Any],
                     where: Sequence[Any], table: sa.Table) -> list[tuple[Group, Totals]]:
    stmt = sa.select(*columns, *sums).select_from(table).where(*where)
    if columns:
        stmt = stmt.group_by(*columns)
    out = []
    for row in (await conn.execute(stmt)).all():
        group = tuple(_none_if_empty(v) for v in row[:len(columns)])
        values = row[len(columns):]
        if not values[0]:
            continue   # no rows at all (an aggregate without group-by still answers one)
        requests, errors, prompt, completion, cached, hits, saved, cost = values[:8]
        failures = values[8] if len(values) > 8 else 0     # the records have it, the rollup not
        totals = Totals(int(requests), int(errors or 0), int(prompt or 0), int(completion or 0), int(cached or 0),
                        int(hits or 0), int(saved or 0), Decimal(cost or 0), int(failures or 0))
        out.append((group, totals))
    return out


async def _from_rollup(conn: AsyncConnection, query: UsageQuery, first: date,
                       last: date | None) -> list[tuple[Group, Totals]]:
    t = usage_daily.c
    where = [t.day >= first, *([t.day < last] if last is not None else [])]
    where += _filters(t, query)
    sums = [sa.func.sum(t[name]) for name in METRICS]
    return await _aggregate(conn, [t[name] for name in query.group_by], sums, where, usage_daily)


def _day_of(conn: AsyncConnection, ts: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    if conn.dialect.name == "postgresql":
        return sa.cast(sa.func.timezone("UTC", ts), sa.Date)
    return sa.func.date(ts)   # SQLite keeps UTC times as ISO text


async def _from_records(conn: AsyncConnection, query: UsageQuery, start: datetime,
                        end: datetime | None) -> list[tuple[Group, Totals]]:
    t = usage_records.c
    where = [t.ts >= start, *([t.ts < end] if end is not None else []), *_filters(t, query)]
    hit = t.cache_hit

    def billed(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.func.sum(sa.case((hit, 0), else_=column))

    sums = [sa.func.count(), sa.func.sum(sa.case((t.status != "ok", 1), else_=0)),
            billed(t.prompt_tokens), billed(t.completion_tokens), billed(t.cached_tokens),
            sa.func.sum(sa.case((hit, 1), else_=0)),
            sa.func.sum(sa.case((hit, t.prompt_tokens + t.completion_tokens), else_=0)),
            sa.func.sum(t.cost_usd),
            sa.func.sum(sa.case((t.validation.in_(_FAILED_VALIDATION), 1), else_=0))]
    columns = [_day_of(conn, t.ts) if name == "day" else t[_COLUMNS.get(name, name)] for name in query.group_by]
    return await _aggregate(conn, columns, sums, where, usage_records)


def _filters(columns: Any, query: UsageQuery) -> list[Any]:
    where = []
    for name in ("tenant", "feature", "model"):
        value = getattr(query, name)
        if value is not None:
            where.append(columns[name] == value)
    return where
