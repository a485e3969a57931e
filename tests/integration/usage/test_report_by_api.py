"""The `api` column (migration 0005) on SQLite and PostgreSQL: written by the batch writer,
and a report grouped by it reads the records over the whole range (the rollup has no such
dimension), with the same totals as the rollup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db import create_engine
from gateway.tenancy.service import TenancyService
from gateway.usage.record import UsageRecord
from gateway.usage.reports import ReportError, UsageQuery, run_report
from gateway.usage.writer import insert_records
from tests.conftest import unique


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def test_grouped_by_api_across_days(engine: AsyncEngine) -> None:
    tenant, now = unique("tenant"), datetime.now(UTC)
    await TenancyService(engine, ["pro"]).create_tenant(tenant, tier="pro", models=["*"])  # a report names a known one
    apis = ["chat", "responses", "responses", "messages", "completions", "embeddings", "chat"]
    records = [UsageRecord(request_id=f"{tenant}-{i}", tenant=tenant, status="ok", http_status=200, model="m",
                           provider="p", prompt_tokens=10, completion_tokens=i, cost_usd=Decimal("0.001"), api=api,
                           ts=now - timedelta(days=i % 3, minutes=1))
               for i, api in enumerate(apis)]
    assert await insert_records(engine, records) == []
    since = now - timedelta(days=5)
    by_api = await run_report(engine, UsageQuery(since=since, tenant=tenant, group_by=("api",)))
    assert {group[0]: totals.requests for group, totals in by_api.rows} == {
        "chat": 2, "responses": 2, "messages": 1, "completions": 1, "embeddings": 1}
    overall = await run_report(engine, UsageQuery(since=since, tenant=tenant))
    assert by_api.totals.as_dict() == overall.totals.as_dict()
    by_day = await run_report(engine, UsageQuery(since=since, tenant=tenant, group_by=("day", "api")))
    assert sum(t.requests for _, t in by_day.rows) == 7 and len({g[0] for g, _ in by_day.rows}) == 3


def test_unknown_group_names_api_among_the_choices() -> None:
    with pytest.raises(ReportError, match="day, api"):
        UsageQuery(since=datetime.now(UTC), group_by=("client",))
