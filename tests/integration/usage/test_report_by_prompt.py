"""Usage grouped by prompt and version (migration 0008's columns) on SQLite and PostgreSQL:
the report's rows equal what the per-request records add up to -- requests, errors, tokens,
cost, and the records whose answer failed its JSON Schema (`failed` or `rejected`)."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db import create_engine
from gateway.tenancy.service import TenancyService
from gateway.usage.formatting import render
from gateway.usage.record import UsageRecord
from gateway.usage.reports import METRICS, UsageQuery, run_report
from gateway.usage.tables import usage_records
from gateway.usage.writer import insert_records
from tests.conftest import unique


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def test_grouped_by_prompt_and_version_equals_the_records(engine: AsyncEngine) -> None:
    tenant, now = unique("tenant"), datetime.now(UTC)
    await TenancyService(engine, ["pro"]).create_tenant(tenant, tier="pro", models=["*"])
    rng = random.Random(20)
    prompts = [("support-triage", 1), ("support-triage", 2), ("support-triage", 10), ("shared/greeter", 1),
               (None, None)]
    records = []
    for i in range(120):
        prompt_id, version = rng.choice(prompts)
        status = rng.choice(["ok", "ok", "ok", "error"])
        records.append(UsageRecord(
            request_id=f"{tenant}-{i}", tenant=tenant, status=status, http_status=200 if status == "ok" else 502,
            model="m", provider="p", prompt_tokens=rng.randint(1, 500), completion_tokens=rng.randint(0, 200),
            cost_usd=Decimal(rng.randint(1, 10_000)) / Decimal(1_000_000), prompt_id=prompt_id,
            prompt_version=version, validation=rng.choice([None, "passed", "failed", "retried", "rejected"]),
            ts=now - timedelta(days=i % 3, minutes=1)))
    assert await insert_records(engine, records) == []

    async with engine.connect() as conn:    # what the records say, read back as they are stored
        stored = (await conn.execute(sa.select(usage_records).where(usage_records.c.tenant == tenant))).all()
    expected: dict[tuple[str | None, ...], dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for row in stored:
        group = expected[(row.prompt_id, None if row.prompt_version is None else str(row.prompt_version))]
        group["requests"] += 1
        group["errors"] += row.status != "ok"
        group["prompt_tokens"] += row.prompt_tokens
        group["completion_tokens"] += row.completion_tokens
        group["cost_usd"] += Decimal(row.cost_usd)
        group["validation_failures"] += row.validation in ("failed", "rejected")

    since = now - timedelta(days=5)
    report = await run_report(engine, UsageQuery(since=since, tenant=tenant, group_by=("prompt", "version")))
    got = {group: {name: getattr(totals, name) for name in expected[group]} for group, totals in report.rows}
    assert got == {group: dict(values) for group, values in expected.items()}
    assert ("support-triage", "10") in got and (None, None) in got
    assert [group for group, _ in report.rows if group[0] == "support-triage"] == [
        ("support-triage", "1"), ("support-triage", "2"), ("support-triage", "10")]      # numeric order
    assert report.metrics == (*METRICS, "validation_failures")
    overall = await run_report(engine, UsageQuery(since=since, tenant=tenant))
    assert report.totals.requests == overall.totals.requests == 120
    assert report.totals.cost_usd == overall.totals.cost_usd
    assert overall.metrics == METRICS        # other reports keep their columns

    as_json = json.loads(render(report, "json"))
    rows: list[dict[str, Any]] = as_json["rows"]
    ten = next(r for r in rows if r["prompt"] == "support-triage" and r["version"] == "10")
    assert ten["validation_failures"] == expected[("support-triage", "10")]["validation_failures"]
    header = render(report, "csv").splitlines()[0]
    assert header.startswith("prompt,version,requests,") and header.endswith(",cost_usd,validation_failures")
    by_prompt = await run_report(engine, UsageQuery(since=since, tenant=tenant, group_by=("prompt",)))
    assert {g[0]: t.requests for g, t in by_prompt.rows}["support-triage"] == sum(
        v["requests"] for (p, _), v in expected.items() if p == "support-triage")
