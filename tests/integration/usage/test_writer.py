"""The batch writer on SQLite and PostgreSQL: idempotent (records and rollups), exact money,
an invalid record isolated instead of stalling its batch, the daily, monthly and tenant-day
rollups equal to the records, and the backfills of migrations 0002 and 0010."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db import alembic_config, create_engine
from gateway.usage.record import UsageRecord
from gateway.usage.tables import usage_daily, usage_daily_tenant, usage_monthly, usage_records
from gateway.usage.writer import insert_records, monthly_rows, rollup_rows, tenant_day_rows
from tests.conftest import POSTGRES_HOST, POSTGRES_PORT, require_postgres, unique


def record(tenant: str, n: int, cost: str = "0.0000123", **overrides: object) -> UsageRecord:
    values: dict[str, object] = {"request_id": f"{tenant}-{n}", "tenant": tenant, "status": "ok", "http_status": 200,
                                 "model": "m", "provider": "p", "prompt_tokens": 10, "completion_tokens": n,
                                 "cost_usd": Decimal(cost)}
    values.update(overrides)
    return UsageRecord(**values)  # type: ignore[arg-type]


async def totals(engine: AsyncEngine, tenant: str) -> tuple[int, Decimal, int, Decimal]:
    async with engine.connect() as conn:
        raw = (await conn.execute(sa.select(sa.func.count(), sa.func.sum(usage_records.c.cost_usd))
                                  .where(usage_records.c.tenant == tenant))).one()
        daily = (await conn.execute(sa.select(sa.func.sum(usage_daily.c.requests), sa.func.sum(usage_daily.c.cost_usd))
                                    .where(usage_daily.c.tenant == tenant))).one()
    return int(raw[0]), Decimal(raw[1] or 0), int(daily[0] or 0), Decimal(daily[1] or 0)


async def test_writing_a_batch_again_changes_nothing(engine: AsyncEngine) -> None:
    tenant = unique()
    batch = [record(tenant, n) for n in range(10)]
    assert await insert_records(engine, [*batch, batch[0], batch[3]]) == []   # duplicates inside a batch, too
    assert await insert_records(engine, batch[5:]) == []                       # a retried half
    assert await insert_records(engine, batch) == []
    assert await totals(engine, tenant) == (10, Decimal("0.000123"), 10, Decimal("0.000123"))


async def test_money_sums_exactly(engine: AsyncEngine) -> None:
    tenant = unique()
    costs = ["0.1", "0.2", "0.0000000001", "0.0000000075", "12345.6789012345", "0.3333333333"]
    batch = [record(tenant, n, cost) for n, cost in enumerate(costs * 50)]
    await insert_records(engine, batch)
    expected = sum((Decimal(c) for c in costs), Decimal(0)) * 50
    assert await totals(engine, tenant) == (300, expected, 300, expected)


async def test_the_rollup_is_the_sum_of_the_records_it_was_written_with(engine: AsyncEngine) -> None:
    """PostgreSQL sums in SQL, SQLite in Python (rollup_rows): both must give these rows."""
    tenant = unique()
    late = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)
    east = timezone(timedelta(hours=5))                  # 04:59 on 2 March there, still 1 March in UTC
    batch = [
        record(tenant, 1, ts=late, feature="chat"),
        record(tenant, 2, ts=late.astimezone(east), feature="chat", cached_tokens=4),
        record(tenant, 3, ts=late, feature="chat", status="error", http_status=502, completion_tokens=0),
        record(tenant, 4, ts=late, feature="chat", cache_hit=True, provider="cache", cost="0"),
        record(tenant, 5, ts=late + timedelta(seconds=1), feature=None, model=None, provider=None),
        record(tenant, 6, ts=late + timedelta(seconds=1), feature="search", cost="0.25"),
    ]
    await insert_records(engine, batch[:3])
    await insert_records(engine, batch)                  # three of them again: counted once
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(usage_daily).where(usage_daily.c.tenant == tenant)
                                   .order_by(*usage_daily.primary_key.columns))).mappings().all()
    assert [dict(row) for row in rows] == rollup_rows(batch)
    hits, chat = rows[0], rows[1]                        # ("chat", "m", "cache") sorts before ("chat", "m", "p")
    assert hits["day"] == chat["day"] == date(2026, 3, 1)
    assert hits["cache_hits"] == 1 and hits["saved_tokens"] == 10 + 4 and hits["prompt_tokens"] == 0
    assert chat["requests"] == 3 and chat["errors"] == 1 and chat["cached_tokens"] == 4
    assert [(r["day"], r["feature"], r["model"]) for r in rows[2:]] == [(date(2026, 3, 2), "", ""),
                                                                         (date(2026, 3, 2), "search", "m")]


async def rows_of(engine: AsyncEngine, table: sa.Table, tenant: str) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        result = await conn.execute(sa.select(table).where(table.c.tenant == tenant)
                                    .order_by(*table.primary_key.columns))
        return [dict(row) for row in result.mappings().all()]


async def test_the_monthly_and_tenant_day_rollups_equal_the_records(engine: AsyncEngine) -> None:
    """PostgreSQL sums them in SQL within the one write, SQLite in Python: both must equal the
    records summed here by hand, per calendar month and per day, across a month's end (in
    UTC), a year's end, and three batches (one written twice)."""
    tenant = unique()
    edges = [datetime(2025, 12, 31, 23, 59, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, tzinfo=UTC),
             datetime(2026, 2, 28, 23, 30, tzinfo=timezone(timedelta(hours=-5))),   # 1 March in UTC
             datetime(2026, 3, 15, 12, tzinfo=UTC)]
    batch = [record(tenant, n, cost=f"0.00{n % 7}1234567", ts=edges[n % 4], feature=("chat", None, "search")[n % 3],
                    model=("m", "n")[n % 2], status="error" if n % 5 == 0 else "ok", cache_hit=n % 6 == 0,
                    cached_tokens=n % 3) for n in range(60)]
    for part in (batch[:20], batch[20:45], batch[:20], batch[45:]):
        assert await insert_records(engine, part) == []
    month_sums: dict[tuple[object, ...], list[object]] = {}
    day_sums: dict[tuple[object, ...], list[object]] = {}
    for r in batch:
        day = r.ts.astimezone(UTC).date()
        values = [1, int(r.status != "ok"), 0 if r.cache_hit else r.prompt_tokens,
                  0 if r.cache_hit else r.completion_tokens, 0 if r.cache_hit else r.cached_tokens,
                  int(r.cache_hit), r.prompt_tokens + r.completion_tokens if r.cache_hit else 0, r.cost_usd]
        for sums, key in ((month_sums, (day.replace(day=1), tenant, r.feature or "", r.model or "", "p")),
                          (day_sums, (day, tenant))):
            known = sums.setdefault(key, [0] * 7 + [Decimal(0)])
            for i, value in enumerate(values):
                known[i] += value  # type: ignore[operator]
    names = ("requests", "errors", "prompt_tokens", "completion_tokens", "cached_tokens", "cache_hits",
             "saved_tokens", "cost_usd")
    monthly = await rows_of(engine, usage_monthly, tenant)
    assert {tuple(row[k] for k in ("month", "tenant", "feature", "model", "provider")): [row[n] for n in names]
            for row in monthly} == month_sums
    assert [row["month"] for row in monthly][:1] == [date(2025, 12, 1)] and len(monthly) == len(month_sums)
    tenant_days = await rows_of(engine, usage_daily_tenant, tenant)
    assert {(row["day"], row["tenant"]): [row[n] for n in names] for row in tenant_days} == day_sums
    assert sorted(str(day) for day, _ in day_sums) == ["2025-12-31", "2026-01-01", "2026-03-01", "2026-03-15"]
    daily = rollup_rows(batch)                        # the SQLite path's arithmetic, on the same records
    assert monthly == monthly_rows(daily) and tenant_days == tenant_day_rows(daily)


async def test_an_invalid_record_is_handed_back_and_the_rest_written(engine: AsyncEngine) -> None:
    tenant = unique()
    invalid = record(tenant, 99, status=None)   # NOT NULL: no retry can ever write it
    batch = [record(tenant, 0), invalid, record(tenant, 1)]
    rejected = await insert_records(engine, batch)
    assert [r.record for r in rejected] == [invalid]
    assert rejected[0].reason and "None" not in rejected[0].reason
    assert (await totals(engine, tenant))[0] == 2


async def test_text_a_client_sent_never_makes_a_record_unwritable(engine: AsyncEngine) -> None:
    """PostgreSQL refuses NUL in text and lone surrogates in UTF-8; a request that was
    answered must still be billed, so such characters are replaced, never the record dropped."""
    tenant = unique()
    odd = {"end_user": "a\x00b", "feature": "f\ud800", "requested_model": "gpt\x00-4o", "client_request_id": "r\x00"}
    assert await insert_records(engine, [record(tenant, 1, **odd)]) == []
    assert (await totals(engine, tenant))[0] == 1
    async with engine.connect() as conn:
        user, feature = (await conn.execute(sa.select(usage_records.c.end_user, usage_records.c.feature)
                                            .where(usage_records.c.tenant == tenant))).one()
    assert user == "a\ufffdb" and feature.startswith("f\ufffd")


@pytest.fixture
async def legacy_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of its own at revision 0003, before the usage rollup."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'legacy.db'}"
        return
    require_postgres()
    name = f"gw_legacy_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(host=POSTGRES_HOST, port=POSTGRES_PORT, user="postgres", database="test")
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.mark.parametrize("legacy_url", ["sqlite", "postgres"], indirect=True)
async def test_migration_backfills_the_rollup_from_existing_records(legacy_url: str) -> None:
    config = alembic_config(legacy_url)
    await asyncio.to_thread(command.upgrade, config, "0003")
    engine = create_engine(legacy_url)
    try:
        ts = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
        async with engine.begin() as conn:
            for n, (cost, hit) in enumerate([("0.0000123", False), ("1.5", False), ("0", True)]):
                await conn.execute(sa.text(
                    "INSERT INTO usage_records (request_id, ts, tenant, feature, model, provider, status, http_status,"
                    " prompt_tokens, completion_tokens, cached_tokens, cost_usd, fallback_count, stream, cache_hit,"
                    " redactions) VALUES (:rid, :ts, 'acme', 'search', 'm', 'p', 'ok', 200, 10, 4, 0, :cost, 0,"
                    " false, :hit, 0)").bindparams(   # bound as the 0001 schema's column types were
                        sa.bindparam("ts", type_=sa.DateTime(timezone=True)),
                        sa.bindparam("cost", type_=sa.Numeric(20, 10))),
                    {"rid": f"legacy-{n}", "ts": ts, "cost": Decimal(cost), "hit": hit})
        await engine.dispose()
        await asyncio.to_thread(command.upgrade, config, "head")
        engine = create_engine(legacy_url)
        async with engine.connect() as conn:
            costs = sorted((await conn.execute(sa.select(usage_records.c.cost_usd))).scalars())
            daily = (await conn.execute(sa.select(usage_daily))).one()
        assert costs == [Decimal(0), Decimal("0.0000123"), Decimal("1.5")]
        assert (daily.day.isoformat(), daily.tenant, daily.feature, daily.requests) == ("2026-11-20", "acme", "search", 3)
        assert (daily.prompt_tokens, daily.saved_tokens, daily.cache_hits) == (20, 14, 1)
        assert daily.cost_usd == Decimal("1.5000123")
        async with engine.connect() as conn:       # migration 0010's rollups, from usage_daily
            monthly = (await conn.execute(sa.select(usage_monthly))).one()
            tenant_day = (await conn.execute(sa.select(usage_daily_tenant))).one()
        assert (monthly.month.isoformat(), monthly.feature, monthly.requests) == ("2026-11-01", "search", 3)
        assert (tenant_day.day.isoformat(), tenant_day.tenant, tenant_day.requests) == ("2026-11-20", "acme", 3)
        assert monthly.cost_usd == tenant_day.cost_usd == Decimal("1.5000123")
        assert (monthly.prompt_tokens, monthly.saved_tokens, tenant_day.cache_hits) == (20, 14, 1)
    finally:
        await engine.dispose()
