"""Two `llm-gateway serve` replicas on real Redis and PostgreSQL; one is killed with SIGKILL
under load. The other drains what the dead one had appended -- including the entries the
dead one had read but not yet written -- and every request that got a 200 has exactly one
record.

Replica A reaches PostgreSQL through a proxy that the test cuts before the load, so that A
certainly dies holding entries it had read and not acknowledged (the case that needs
XAUTOCLAIM); B reaches PostgreSQL directly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from redis import Redis

from gateway.usage.tables import usage_records
from tests.conftest import unique
from tests.integration.usage.conftest import ProxiedPostgres, StreamNames, count_records, poll, request_ids
from tests.integration.usage.load import LoadResult, send_chats
from tests.support.gateway import ADMIN_KEY, write_catalog
from tests.support.processes import answers_health, stop_process
from tests.support.threads import free_port

CATALOG = """
providers:
  mock: {type: mock, delay_ms: 2}
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

REQUESTS = 1200


@contextmanager
def replica(name: str, database_url: str, env: dict[str, str], log_dir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    command = Path(sys.executable).parent / "llm-gateway"
    log = (log_dir / f"{name}.log").open("wb")
    process = subprocess.Popen([str(command), "serve", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                               env={**env, "GATEWAY_DATABASE_URL": database_url,
                                    "GATEWAY_USAGE_CONSUMER_NAME": f"{name}-{unique()}"})
    url = f"http://127.0.0.1:{port}"
    try:
        assert poll(lambda: answers_health(url) or process.poll() is not None, timeout=60), f"{name} did not start"
        assert process.poll() is None, (log_dir / f"{name}.log").read_text()
        yield url, process
    finally:
        stop_process(process)
        log.close()



def _consumer_pending(redis: Redis, stream: StreamNames, prefix: str) -> int:
    try:
        consumers = redis.xinfo_consumers(stream.key, stream.group)
    except Exception:
        return 0
    return sum(int(c["pending"]) for c in consumers if c["name"].decode().startswith(prefix))


def test_a_killed_replicas_records_are_drained_by_the_survivor(
        proxied_postgres: ProxiedPostgres, redis_url: str, stream: StreamNames, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({"GATEWAY_CONFIG": str(write_catalog(tmp_path, CATALOG)), "GATEWAY_REDIS_URL": redis_url,
                "GATEWAY_ADMIN_KEY": ADMIN_KEY, "GATEWAY_USAGE_STREAM_KEY": stream.key,
                "GATEWAY_USAGE_CONSUMER_GROUP": stream.group, "GATEWAY_USAGE_CLAIM_IDLE_SECONDS": "3",
                "GATEWAY_USAGE_FLUSH_INTERVAL_SECONDS": "0.1", "GATEWAY_KEY_CACHE_TTL_SECONDS": "3600",
                "GATEWAY_LOG_LEVEL": "warning"})
    redis = Redis.from_url(redis_url)
    tenant = unique()
    by_tenant = usage_records.c.tenant == tenant
    with replica("replica-a", proxied_postgres.url, env, tmp_path) as (url_a, process_a), \
            replica("replica-b", proxied_postgres.direct_url, env, tmp_path) as (url_b, _):
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        created = httpx.post(url_b + "/admin/tenants", headers=admin, timeout=10,
                             json={"name": tenant, "tier": "pro", "models": ["*"]})
        assert created.status_code == 201, created.text
        key = httpx.post(url_b + f"/admin/tenants/{tenant}/keys", headers=admin, json={}, timeout=10).json()["key"]
        for url in (url_a, url_b):   # both replicas know the key before A loses its database
            warm = httpx.post(url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, timeout=10,
                              json={"model": "mock-echo", "messages": [{"role": "user", "content": "warm"}]})
            assert warm.status_code == 200, warm.text

        proxied_postgres.proxy.cut()
        load = LoadResult()
        runner = threading.Thread(target=lambda: asyncio.run(
            send_chats([url_a, url_b], key, REQUESTS, feature="crash", result=load)))
        runner.start()
        # Kill A under load: a quarter of the requests answered, and A holding entries it has
        # read and not written.
        holding = poll(lambda: load.statuses.get(200, 0) >= REQUESTS // 4
                       and _consumer_pending(redis, stream, "replica-a") > 0, timeout=60, interval=0.02)
        held = _consumer_pending(redis, stream, "replica-a")
        process_a.send_signal(signal.SIGKILL)
        process_a.wait(10)
        runner.join(180)
        assert holding, f"replica A never held pending entries; load so far: {load.statuses}"
        print(f"replica A killed holding {held} pending entries; answers: {load.statuses}")
        assert not runner.is_alive()
        assert load.statuses.get(200, 0) >= REQUESTS // 3, load.statuses

        ok = set(load.ok_ids)
        assert len(ok) == len(load.ok_ids)
        drained = poll(lambda: ok <= set(request_ids(proxied_postgres.direct_url, by_tenant)), timeout=90)
        log_b = (tmp_path / "replica-b.log").read_text()
        assert drained, f"missing {len(ok - set(request_ids(proxied_postgres.direct_url, by_tenant)))}\n{log_b[-3000:]}"
        assert poll(lambda: _consumer_pending(redis, stream, "replica-a") == 0, timeout=30)

    records, distinct = count_records(proxied_postgres.direct_url, by_tenant, usage_records.c.feature == "crash")
    assert records == distinct                 # one record per request id
    assert len(ok) <= records <= REQUESTS      # every 200 recorded; a request cut by the kill may be too
    redis.close()
