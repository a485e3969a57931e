"""PostgreSQL unreachable while 2,000 requests pass through a gateway with Redis: the gateway
keeps answering, and after the database returns exactly 2,000 records exist, one per
answered request, none duplicated."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from redis import Redis

from gateway.usage.tables import usage_records
from tests.conftest import make_settings, unique
from tests.integration.usage.conftest import ProxiedPostgres, StreamNames, count_records, poll, request_ids
from tests.integration.usage.load import send_chats
from tests.support.gateway import running_gateway, write_catalog

CATALOG = """
providers:
  mock: {type: mock}
models:
  mock-echo:
    price: {input: 0.5, output: 1.5}
    deployments: [{provider: mock, upstream: echo}]
tiers:
  pro: {rpm: 100000, tpm: 100000000}
guardrails:
  pii: {mode: redact}
cache: {mode: "off"}
"""
pytestmark = pytest.mark.slow   # thousands of requests

REQUESTS = 2000


def test_no_record_is_lost_or_doubled_through_a_database_outage(
        proxied_postgres: ProxiedPostgres, redis_url: str, stream: StreamNames, tmp_path: Path) -> None:
    settings = make_settings(
        proxied_postgres.url, write_catalog(tmp_path, CATALOG), redis_url=redis_url,
        usage_stream_key=stream.key, usage_consumer_group=stream.group, usage_flush_interval_seconds=0.2,
        # Keys stay known through the outage (revocations still arrive through Redis at once).
        key_cache_ttl_seconds=3600)
    tenant = unique()
    by_tenant = usage_records.c.tenant == tenant
    with running_gateway(settings) as gw:
        key = gw.create_key(name=tenant, tier="pro")
        warm = httpx.post(gw.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                          json={"model": "mock-echo", "messages": [{"role": "user", "content": "warm"}]}, timeout=10)
        assert warm.status_code == 200, warm.text

        proxied_postgres.proxy.cut()
        load = asyncio.run(send_chats([gw.url], key, REQUESTS, feature="outage"))
        assert load.statuses == {200: REQUESTS}, load.statuses
        # The outage was real: nothing of the load reached the database while it lasted...
        assert count_records(proxied_postgres.direct_url, by_tenant, usage_records.c.feature == "outage") == (0, 0)
        # ...and all of it was waiting in Redis.
        assert Redis.from_url(redis_url).xlen(stream.key) >= REQUESTS

        proxied_postgres.proxy.restore()
        arrived = poll(lambda: count_records(proxied_postgres.direct_url, by_tenant)[0] >= REQUESTS + 1, timeout=90)
        assert arrived, count_records(proxied_postgres.direct_url, by_tenant)

    records, distinct = count_records(proxied_postgres.direct_url, by_tenant, usage_records.c.feature == "outage")
    assert (records, distinct) == (REQUESTS, REQUESTS)
    assert set(request_ids(proxied_postgres.direct_url, by_tenant, usage_records.c.feature == "outage")) == set(
        load.ok_ids)
