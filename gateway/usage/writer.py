"""Batched, idempotent inserts of usage records, with the rollups kept in step (daily, and
the coarser monthly and per-tenant-day ones summed from the daily rows of the same batch).

A request_id already present is skipped, and only the records this transaction actually
inserted are added to `usage_daily`, so a batch retried after a failure, drained twice, or
claimed by two replicas at once never double-counts -- in the records or in the rollup.

A record the database refuses as invalid (a value too long, say) would fail its whole batch
on every retry and stall the outbox behind it; such records are isolated one by one and
handed back to the caller to dead-letter, while every valid record of the batch is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.usage.pg_insert import insert_and_roll_up
from gateway.usage.record import UsageRecord
from gateway.usage.tables import (
    MONTHLY_DIMENSIONS,
    ROLLUP_DIMENSIONS,
    ROLLUP_SUMS,
    TENANT_DAY_DIMENSIONS,
    to_money,
    usage_daily,
    usage_daily_tenant,
    usage_monthly,
    usage_records,
)

# SQLSTATE classes of failures that retrying the same record can never fix: 22 data
# exception (a value too long, a number out of range), 23 integrity constraint violation.
# Connection loss, timeouts and the like are not among them: they propagate, and the
# caller keeps the batch and retries it.
_INVALID_SQLSTATE_CLASSES = ("22", "23")
_ROLLUP_SUMS = ROLLUP_SUMS


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    record: UsageRecord
    reason: str          # the database's error class, never the offending value


async def insert_records(engine: AsyncEngine, records: Sequence[UsageRecord]) -> list[RejectedRecord]:
    """Writes the batch in one transaction; returns the records refused as invalid (the rest
    are written). Raises on a transient failure, leaving nothing written."""
    batch = _unique(records)
    if not batch:
        return []
    try:
        await _insert_batch(engine, batch)
        return []
    except sa.exc.DBAPIError as exc:
        if not invalid_record(exc):
            raise
        if len(batch) == 1:
            return [RejectedRecord(batch[0], _reason(exc))]
    rejected: list[RejectedRecord] = []
    for record in batch:
        try:
            await _insert_batch(engine, [record])
        except sa.exc.DBAPIError as exc:
            if not invalid_record(exc):
                raise
            rejected.append(RejectedRecord(record, _reason(exc)))
    return rejected


def invalid_record(exc: sa.exc.DBAPIError) -> bool:
    """The database refused the data itself (not the connection). SQLAlchemy does not map
    every asyncpg error to DataError, so the driver's SQLSTATE decides where it has one."""
    if isinstance(exc, sa.exc.DataError | sa.exc.IntegrityError):
        return True
    cause: BaseException | None = exc.orig
    for _ in range(3):
        if cause is None:
            break
        sqlstate = getattr(cause, "sqlstate", None)
        if isinstance(sqlstate, str):
            return sqlstate[:2] in _INVALID_SQLSTATE_CLASSES
        cause = cause.__cause__
    return False


def _reason(exc: sa.exc.DBAPIError) -> str:
    cause = exc.orig.__cause__ if exc.orig is not None else None
    return type(cause or exc.orig or exc).__name__


def _unique(records: Sequence[UsageRecord]) -> list[UsageRecord]:
    """First record per request_id: a duplicate inside one batch must not reach the rollup twice."""
    seen: set[str] = set()
    out = []
    for record in records:
        if record.request_id not in seen:
            seen.add(record.request_id)
            out.append(record)
    return out


async def _insert_batch(engine: AsyncEngine, batch: list[UsageRecord]) -> None:
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await insert_and_roll_up(conn, batch)   # one statement: see pg_insert.py
            return
        inserted = await _insert_new(conn, batch)
        fresh = [r for r in batch if r.request_id in inserted]
        rows = rollup_rows(fresh)
        if rows:
            await _add_to_rollup(conn, usage_daily, ROLLUP_DIMENSIONS, rows)
            await _add_to_rollup(conn, usage_monthly, MONTHLY_DIMENSIONS, monthly_rows(rows))
            await _add_to_rollup(conn, usage_daily_tenant, TENANT_DAY_DIMENSIONS, tenant_day_rows(rows))


# SQLite (PostgreSQL writes with pg_insert.py's one statement).

async def _insert_new(conn: AsyncConnection, batch: list[UsageRecord]) -> set[str]:
    stmt = (sqlite.insert(usage_records)
            .on_conflict_do_nothing(index_elements=["request_id"])
            .returning(usage_records.c.request_id))
    result = await conn.execute(stmt, [r.to_row() for r in batch])
    return set(result.scalars().all())


async def _add_to_rollup(conn: AsyncConnection, table: sa.Table, dimensions: tuple[str, ...],
                         rows: list[dict[str, Any]]) -> None:
    stmt = sqlite.insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(dimensions),
        set_={name: table.c[name] + stmt.excluded[name] for name in _ROLLUP_SUMS})
    await conn.execute(stmt, rows)


def rollup_rows(records: Sequence[UsageRecord]) -> list[dict[str, Any]]:
    """The records summed per (UTC day, tenant, feature, model, provider), in key order so
    that concurrent writers lock rollup rows in the same order (no deadlocks)."""
    sums: dict[tuple[date, str, str, str, str], dict[str, Any]] = {}
    for r in records:
        key = (r.ts.astimezone(UTC).date(), r.tenant, r.feature or "", r.model or "", r.provider or "")
        row = sums.get(key)
        if row is None:
            row = sums[key] = dict(zip(ROLLUP_DIMENSIONS, key, strict=True))
            row.update({name: 0 for name in _ROLLUP_SUMS})
            row["cost_usd"] = Decimal(0)
        row["requests"] += 1
        row["errors"] += r.status != "ok"
        if r.cache_hit:
            row["cache_hits"] += 1
            row["saved_tokens"] += r.prompt_tokens + r.completion_tokens
        else:
            row["prompt_tokens"] += r.prompt_tokens
            row["completion_tokens"] += r.completion_tokens
            row["cached_tokens"] += r.cached_tokens
        row["cost_usd"] += to_money(r.cost_usd)   # as the record is stored
    return [sums[key] for key in sorted(sums)]


def monthly_rows(daily: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Daily rollup rows summed per (UTC calendar month, tenant, feature, model, provider)."""
    return _coarsen(daily, MONTHLY_DIMENSIONS, lambda row: (row["day"].replace(day=1), row["tenant"], row["feature"],
                                                             row["model"], row["provider"]))


def tenant_day_rows(daily: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Daily rollup rows summed per (UTC day, tenant)."""
    return _coarsen(daily, TENANT_DAY_DIMENSIONS, lambda row: (row["day"], row["tenant"]))


def _coarsen(rows: Sequence[dict[str, Any]], dimensions: tuple[str, ...],
             key_of: Callable[[dict[str, Any]], tuple[Any, ...]]) -> list[dict[str, Any]]:
    sums: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = key_of(row)
        into = sums.get(key)
        if into is None:
            sums[key] = {**dict(zip(dimensions, key, strict=True)), **{name: row[name] for name in _ROLLUP_SUMS}}
        else:
            for name in _ROLLUP_SUMS:
                into[name] += row[name]
    return [sums[key] for key in sorted(sums)]
