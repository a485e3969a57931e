"""The whole pipeline, once on SQLite (embedded) and once on PostgreSQL (production)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.usage.tables import usage_records
from tests.conftest import make_settings
from tests.support.gateway import RunningGateway, running_gateway, write_catalog

CATALOG = """
providers:
  mock: {type: mock}
models:
  mock-echo:
    price: {input: 2.5, output: 10}
    deployments: [{provider: mock, upstream: echo}]
aliases:
  auto: {models: [mock-echo]}
tiers:
  small: {rpm: 3}
  pro: {rpm: 1000}
guardrails:
  pii: {mode: redact}
cache: {mode: exact, ttl_seconds: 60}
"""


@pytest.fixture
def gateway(database_url: str, tmp_path: Path) -> Iterator[RunningGateway]:
    with running_gateway(make_settings(database_url, write_catalog(tmp_path, CATALOG))) as gw:
        yield gw


def chat(gw: RunningGateway, key: str, content: str, **extra: object) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json={"model": "mock-echo", "messages": [{"role": "user", "content": content}], **extra},
                      timeout=30)


def records(gw: RunningGateway, tenant: str) -> list[sa.Row[Any]]:
    gw.flush_usage()

    async def query() -> list[sa.Row[Any]]:
        engine = create_async_engine(gw.runtime.settings.database_url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(sa.select(usage_records).where(usage_records.c.tenant == tenant)
                                                .order_by(usage_records.c.id))).all())
        finally:
            await engine.dispose()

    deadline = time.monotonic() + 10
    while True:
        rows: list[sa.Row[Any]] = gw.run(query)
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_a_request_passes_every_stage_and_is_recorded(gateway: RunningGateway) -> None:
    tenant = gateway.create_tenant()
    key = gateway.create_key(tenant)
    response = chat(gateway, key, "card 4111 1111 1111 1111 please", user="u-42",
                    metadata={"feature": "checkout"})
    assert response.status_code == 200, response.text
    # guardrails redacted before the provider saw it; the mock echoes what it received
    assert response.json()["choices"][0]["message"]["content"] == "card [REDACTED-CREDIT_CARD] please"
    assert response.headers["x-gateway-cache"] == "miss"
    again = chat(gateway, key, "card 4111 1111 1111 1111 please", user="u-42")
    assert again.headers["x-gateway-cache"] == "hit" and again.json()["cache"] == "hit"

    rows = records(gateway, tenant)
    assert len(rows) == 2
    first, hit = rows
    assert (first.status, first.http_status, first.model, first.provider, first.feature, first.end_user) == (
        "ok", 200, "mock-echo", "mock", "checkout", "u-42")
    assert first.redactions == 1 and not first.cache_hit
    expected = (Decimal(first.prompt_tokens) * Decimal("2.5") + Decimal(first.completion_tokens) * 10) / 1_000_000
    assert Decimal(first.cost_usd) == expected
    assert hit.cache_hit and Decimal(hit.cost_usd) == 0


def test_rejections_are_recorded_and_quota_holds(gateway: RunningGateway) -> None:
    tenant = gateway.create_tenant(tier="small")
    key = gateway.create_key(tenant)
    statuses = [chat(gateway, key, f"n{i}").status_code for i in range(4)]
    assert statuses == [200, 200, 200, 429]
    rows = records(gateway, tenant)
    assert [r.http_status for r in rows] == [200, 200, 200, 429]
    assert rows[-1].status == "rejected"


def test_revoked_key_is_refused(gateway: RunningGateway) -> None:
    tenant = gateway.create_tenant()
    key = gateway.create_key(tenant)
    assert chat(gateway, key, "hi").status_code == 200
    key_id = gateway.admin("GET", f"/admin/tenants/{tenant}/keys").json()["data"][0]["id"]
    assert gateway.admin("DELETE", f"/admin/keys/{key_id}").status_code == 200
    response = chat(gateway, key, "hi")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_a_reused_client_request_id_never_drops_a_record(gateway: RunningGateway) -> None:
    """Every request is billed, even when a client sends the same x-request-id twice."""
    tenant = gateway.create_tenant()
    key = gateway.create_key(tenant)
    answers = [httpx.post(gateway.url + "/v1/chat/completions", timeout=30,
                          headers={"Authorization": f"Bearer {key}", "x-request-id": "same-id-twice"},
                          json={"model": "mock-echo", "messages": [{"role": "user", "content": f"q{i}"}]})
               for i in range(2)]
    assert [a.headers["x-request-id"] for a in answers] == ["same-id-twice"] * 2
    gateway_ids = {a.headers["x-gateway-request-id"] for a in answers}
    assert len(gateway_ids) == 2
    deadline = time.monotonic() + 10
    rows = records(gateway, tenant)
    while len(rows) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
        rows = records(gateway, tenant)
    assert {r.request_id for r in rows} == gateway_ids
    assert [r.client_request_id for r in rows] == ["same-id-twice"] * 2
