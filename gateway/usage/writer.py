"""Batched, idempotent inserts of usage records (a request_id already present is skipped),
so a batch retried after a failure or drained twice never double-counts."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.usage.record import UsageRecord
from gateway.usage.tables import usage_records


async def insert_records(engine: AsyncEngine, records: Sequence[UsageRecord]) -> None:
    if not records:
        return
    rows = [r.to_row() for r in records]
    dialect = engine.dialect.name
    if dialect == "postgresql":
        stmt: sa.Insert = pg_insert(usage_records).on_conflict_do_nothing(index_elements=["request_id"])
    elif dialect == "sqlite":
        stmt = sqlite_insert(usage_records).on_conflict_do_nothing(index_elements=["request_id"])
    else:  # pragma: no cover - only the two supported databases
        raise RuntimeError(f"unsupported database {dialect}")
    async with engine.begin() as conn:
        await conn.execute(stmt, rows)
