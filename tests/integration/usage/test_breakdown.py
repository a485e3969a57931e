"""The console's one-statement breakdown (totals and sums by day, tenant, feature and model)
agrees exactly with the usage report, on SQLite and PostgreSQL, for whole-day ranges, a
"last 24 hours" range (a partial day from the records), ranges of several months (whole
months from the monthly rollup, edge days from the daily one) and filters; and the budget
used now."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db import create_engine
from gateway.tenancy.service import TenancyService
from gateway.usage.breakdown import DIMENSIONS, Filters, breakdown, budget_used
from gateway.usage.record import UsageRecord
from gateway.usage.reports import UsageQuery, run_report
from gateway.usage.writer import insert_records
from tests.conftest import unique


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def seed(engine: AsyncEngine, tenants: list[str], now: datetime, days: int = 40) -> None:
    records = []
    for i in range(240):
        records.append(UsageRecord(
            request_id=unique("bd"), tenant=tenants[i % len(tenants)], status="error" if i % 17 == 0 else "ok",
            http_status=200, ts=now - timedelta(hours=(i * 7) % (days * 24), minutes=i % 60),
            feature=None if i % 5 == 0 else f"f{i % 3}", model=f"m{i % 4}", provider="p",
            prompt_tokens=10 + i, completion_tokens=i % 13, cost_usd=Decimal("0.0000123") * (1 + i % 7),
            cache_hit=i % 11 == 0))
    await insert_records(engine, records)


@pytest.mark.parametrize("window", ["30 days", "24 hours", "7 days until yesterday noon"])
async def test_the_breakdown_equals_the_report_for_every_dimension(engine: AsyncEngine, window: str) -> None:
    now = datetime.now(UTC)
    tenants = [unique("bd"), unique("bd")]
    for name in tenants:     # a report names a known tenant (an unknown one is an error, not zero spend)
        await TenancyService(engine, ["pro"]).create_tenant(name, tier="pro", models=["*"])
    await seed(engine, tenants, now)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    since, until = {"30 days": (midnight - timedelta(days=29), None),
                    "24 hours": (now - timedelta(hours=24), None),
                    "7 days until yesterday noon": (midnight - timedelta(days=7),
                                                    midnight - timedelta(hours=12))}[window]
    for tenant in (*tenants, None):
        result = await breakdown(engine, since, until, Filters(tenant=tenant))
        report = await run_report(engine, UsageQuery(since=since, until=until, tenant=tenant))
        assert result.totals == report.totals
        assert result.totals.requests > 0
        for dimension in DIMENSIONS:
            by_report = await run_report(engine, UsageQuery(since=since, until=until, tenant=tenant,
                                                            group_by=(dimension,)))
            expected = {(group[0] or ""): totals for group, totals in by_report.rows}
            assert dict(result.by[dimension]) == expected, dimension


@pytest.mark.parametrize("window", ["150 days", "100 days until 20 days ago", "75 days until 3 hours ago"])
async def test_months_and_edge_days_agree_with_the_report_under_every_filter(engine: AsyncEngine,
                                                                            window: str) -> None:
    now = datetime.now(UTC)
    tenants = [unique("bd"), unique("bd")]
    for name in tenants:
        await TenancyService(engine, ["pro"]).create_tenant(name, tier="pro", models=["*"])
    await seed(engine, tenants, now, days=160)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    since, until = {"150 days": (midnight - timedelta(days=149), None),
                    "100 days until 20 days ago": (now - timedelta(days=100), midnight - timedelta(days=20)),
                    "75 days until 3 hours ago": (now - timedelta(days=75), now - timedelta(hours=3))}[window]
    filters = [Filters(), Filters(tenant=tenants[0]), Filters(feature="f1"), Filters(model="m2"),
               Filters(tenant=tenants[0], feature="f0", model="m0")]
    for f in filters:
        result = await breakdown(engine, since, until, f)
        report = await run_report(engine, UsageQuery(since=since, until=until, tenant=f.tenant, feature=f.feature,
                                                     model=f.model))
        assert result.totals == report.totals and result.totals.requests > 0, f
        for dimension in DIMENSIONS:
            by_report = await run_report(engine, UsageQuery(since=since, until=until, tenant=f.tenant,
                                                            feature=f.feature, model=f.model, group_by=(dimension,)))
            expected = {(group[0] or ""): totals for group, totals in by_report.rows}
            assert dict(result.by[dimension]) == expected, (dimension, f)


async def test_a_feature_filter_and_the_top_list(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    tenants = [unique("bd")]
    await seed(engine, tenants, now)
    result = await breakdown(engine, now - timedelta(days=40), None, Filters(tenant=tenants[0], feature="f1"))
    assert [name for name, _ in result.by["feature"]] == ["f1"]
    top = result.top("model", 2)
    assert len(top) == 2 and top[0][1].cost_usd >= top[1][1].cost_usd


async def test_budget_used_counts_the_last_minute_today_and_this_month(engine: AsyncEngine) -> None:
    tenant, now = unique("bd"), datetime.now(UTC)
    await insert_records(engine, [
        UsageRecord(request_id=unique("bd"), tenant=tenant, status="ok", http_status=200, ts=now - timedelta(seconds=5),
                    prompt_tokens=100, completion_tokens=20, cost_usd=Decimal("0.25")),
        UsageRecord(request_id=unique("bd"), tenant=tenant, status="ok", http_status=200,
                    ts=now - timedelta(minutes=5), prompt_tokens=1, completion_tokens=2, cost_usd=Decimal("0.5"))])
    used = await budget_used(engine, tenant, now)
    assert used.requests_this_minute == 1
    if (now - timedelta(minutes=5)).date() == now.date():
        assert used.tokens_today == 123
    assert used.usd_this_month == Decimal("0.75") or now.day == 1
    nothing = await budget_used(engine, unique("bd"), now)
    assert (nothing.requests_this_minute, nothing.tokens_today, nothing.usd_this_month) == (0, 0, Decimal(0))
