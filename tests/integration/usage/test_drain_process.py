"""`llm-gateway usage-drain` as a process on real Redis and PostgreSQL: killed with SIGKILL
while it holds a batch it read and had not written, another drain claims the batch and every
record lands exactly once; `serve` starts a drain beside itself unless told `--no-drain`,
and a stream nobody drains shows on /readyz and in the metrics."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
from redis import Redis

from gateway.usage.record import UsageRecord
from gateway.usage.redis_outbox import FIELD
from gateway.usage.tables import usage_records
from tests.conftest import unique
from tests.integration.usage.conftest import ProxiedPostgres, StreamNames, count_records, poll, request_ids
from tests.support.gateway import ADMIN_KEY, write_catalog
from tests.support.processes import answers_health, stop_process
from tests.support.threads import free_port

COMMAND = str(Path(sys.executable).parent / "llm-gateway")
CATALOG = """
providers:
  mock: {type: mock}
models:
  mock-echo:
    price: {input: 0.5, output: 1.5}
    deployments: [{provider: mock, upstream: echo}]
tiers:
  pro: {rpm: 100000, tpm: 100000000}
cache: {mode: "off"}
"""


def base_env(redis_url: str, stream: StreamNames) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({"GATEWAY_REDIS_URL": redis_url, "GATEWAY_USAGE_STREAM_KEY": stream.key,
                "GATEWAY_USAGE_CONSUMER_GROUP": stream.group, "GATEWAY_USAGE_CLAIM_IDLE_SECONDS": "1",
                "GATEWAY_USAGE_FLUSH_INTERVAL_SECONDS": "0.1", "GATEWAY_USAGE_BATCH_SIZE": "50",
                "GATEWAY_ADMIN_KEY": ADMIN_KEY, "GATEWAY_LOG_LEVEL": "info"})
    return env


def append(redis: Redis, stream: StreamNames, tenant: str, start: int, n: int) -> None:
    pipe = redis.pipeline(transaction=False)
    for i in range(start, start + n):
        record = UsageRecord(request_id=f"{tenant}-{i}", tenant=tenant, status="ok", http_status=200, model="m",
                             provider="p", prompt_tokens=10, completion_tokens=i, cost_usd=Decimal("0.000001"))
        pipe.xadd(stream.key, {FIELD: orjson.dumps(record.to_json())})
    pipe.execute()


@contextmanager
def drain(name: str, database_url: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen([COMMAND, "usage-drain"], stdout=out, stderr=subprocess.STDOUT,
                                   env={**env, "GATEWAY_DATABASE_URL": database_url,
                                        "GATEWAY_USAGE_CONSUMER_NAME": name})
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)


def pending_of(redis: Redis, stream: StreamNames, consumer: str) -> int:
    try:
        consumers = redis.xinfo_consumers(stream.key, stream.group)
    except Exception:
        return 0
    return sum(int(c["pending"]) for c in consumers if c["name"].decode() == consumer)


def test_a_drain_killed_holding_a_batch_loses_nothing_and_writes_nothing_twice(
        proxied_postgres: ProxiedPostgres, redis_url: str, stream: StreamNames, tmp_path: Path) -> None:
    env = base_env(redis_url, stream)
    redis = Redis.from_url(redis_url)
    tenant = unique()
    by_tenant = usage_records.c.tenant == tenant
    append(redis, stream, tenant, 0, 300)
    with drain("drain-a", proxied_postgres.url, env, tmp_path / "a.log") as first:
        # A's first batches reach the database; then its database goes away mid-stream, so
        # that A certainly dies holding entries it read and did not write.
        assert poll(lambda: len(request_ids(proxied_postgres.direct_url, by_tenant)) > 0, timeout=60), \
            (tmp_path / "a.log").read_text()
        proxied_postgres.proxy.cut()
        append(redis, stream, tenant, 300, 300)
        assert poll(lambda: pending_of(redis, stream, "drain-a") > 0, timeout=30)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    held = pending_of(redis, stream, "drain-a")
    assert held > 0
    append(redis, stream, tenant, 600, 100)    # the gateway goes on appending meanwhile

    with drain("drain-b", proxied_postgres.direct_url, env, tmp_path / "b.log") as second:
        expected = {f"{tenant}-{i}" for i in range(700)}
        assert poll(lambda: set(request_ids(proxied_postgres.direct_url, by_tenant)) == expected, timeout=60), \
            (tmp_path / "b.log").read_text()[-3000:]
        assert poll(lambda: pending_of(redis, stream, "drain-a") == 0, timeout=30)
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    assert count_records(proxied_postgres.direct_url, by_tenant) == (700, 700)
    assert redis.xlen(stream.key) == 0
    log_b = (tmp_path / "b.log").read_text()
    assert "claimed usage records left pending by another consumer" in log_b
    assert "usage drain stopped" in log_b
    redis.close()


def test_usage_drain_without_redis_says_what_it_needs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    done = subprocess.run([COMMAND, "usage-drain"], env=env, capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert done.returncode == 2
    assert "needs GATEWAY_REDIS_URL" in done.stderr


@contextmanager
def serve(env: dict[str, str], log: Path, *extra: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen([COMMAND, "serve", "--port", str(port), *extra], stdout=out,
                                   stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            assert poll(lambda: answers_health(url) or process.poll() is not None, timeout=60)
            assert process.poll() is None, log.read_text()
            yield url, process
        finally:
            stop_process(process)



def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def chat(url: str, key: str, n: int) -> list[str]:
    ids = []
    with httpx.Client(timeout=10) as client:
        for i in range(n):
            answer = client.post(url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                                 json={"model": "mock-echo", "messages": [{"role": "user", "content": f"n{i}"}]})
            assert answer.status_code == 200, answer.text
            ids.append(answer.headers["x-request-id"])
    return ids


def tenant_and_key(url: str) -> tuple[str, str]:
    tenant = unique()
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    created = httpx.post(url + "/admin/tenants", headers=admin, timeout=10,
                         json={"name": tenant, "tier": "pro", "models": ["*"]})
    assert created.status_code == 201, created.text
    return tenant, httpx.post(url + f"/admin/tenants/{tenant}/keys", headers=admin, json={}, timeout=10).json()["key"]


def test_serve_drains_beside_itself_and_the_drain_goes_with_it(
        postgres_url: str, redis_url: str, stream: StreamNames, tmp_path: Path) -> None:
    env = {**base_env(redis_url, stream), "GATEWAY_DATABASE_URL": postgres_url,
           "GATEWAY_CONFIG": str(write_catalog(tmp_path, CATALOG))}
    with serve(env, tmp_path / "serve.log") as (url, process):
        (drain_pid,) = children(process.pid)
        tenant, key = tenant_and_key(url)
        ids = set(chat(url, key, 20))
        assert poll(lambda: set(request_ids(postgres_url, usage_records.c.tenant == tenant)) == ids, timeout=30)
        ready = httpx.get(url + "/readyz", timeout=5).json()
        assert ready["usage_drain"]["status"] == "ok"
        # The drain dies: serve starts another, which drains what arrived meanwhile.
        os.kill(drain_pid, signal.SIGKILL)
        more = set(chat(url, key, 10))
        assert poll(lambda: set(request_ids(postgres_url, usage_records.c.tenant == tenant)) == ids | more,
                    timeout=30), (tmp_path / "serve.log").read_text()[-3000:]
        (restarted,) = children(process.pid)
        assert restarted != drain_pid
        process.send_signal(signal.SIGKILL)      # the server dies: its drain stops by itself
        process.wait(10)
        assert poll(lambda: not alive(restarted), timeout=20)
    log = (tmp_path / "serve.log").read_text()
    assert "usage drain exited; starting it again" in log
    assert "the gateway that started it is gone" in log


def test_a_stream_nobody_drains_shows_until_a_drain_runs(
        postgres_url: str, redis_url: str, stream: StreamNames, tmp_path: Path) -> None:
    env = {**base_env(redis_url, stream), "GATEWAY_DATABASE_URL": postgres_url,
           "GATEWAY_CONFIG": str(write_catalog(tmp_path, CATALOG))}
    with serve(env, tmp_path / "serve.log", "--no-drain") as (url, process):
        assert children(process.pid) == []
        tenant, key = tenant_and_key(url)
        ids = set(chat(url, key, 5))

        def undrained() -> bool:
            state = httpx.get(url + "/readyz", timeout=5).json()["usage_drain"]
            return bool(state == {"drainers": 0, "backlog": 5, "status": "nobody draining"})

        assert poll(undrained, timeout=20)
        assert httpx.get(url + "/readyz", timeout=5).status_code == 200   # shown, not a readiness failure
        metrics = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=5).text
        assert "gateway_usage_stream_drainers 0.0" in metrics
        assert request_ids(postgres_url, usage_records.c.tenant == tenant) == []

        with drain("drain-elsewhere", postgres_url, env, tmp_path / "drain.log"):
            assert poll(lambda: set(request_ids(postgres_url, usage_records.c.tenant == tenant)) == ids,
                        timeout=30)

            def drained() -> bool:
                state = httpx.get(url + "/readyz", timeout=5).json()["usage_drain"]
                return bool(state["drainers"] == 1 and state["status"] == "ok")

            assert poll(drained, timeout=20)
