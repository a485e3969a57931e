"""A replica SIGKILLed under load while it holds usage records it has read from the stream
and not confirmed: two `llm-gateway serve` processes sharing PostgreSQL and a private Redis.
Replica A reaches PostgreSQL through a proxy that is cut before the kill, so it certainly
dies holding entries it could not write; B claims them. The 200s B answered are never slower
than the bound plus a margin, no answer is a 5xx, and every 200 has exactly one record."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from redis import Redis

from tests.conftest import unique
from tests.faults.conftest import BOUND, CATALOG, MARGIN, Cluster
from tests.faults.harness import Figures, Load, figures
from tests.support.gateway import ADMIN_KEY, write_catalog
from tests.support.processes import answers_health, stop_process
from tests.support.threads import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SCENARIO = "replica-sigkilled"
BODY = {"model": "mock-echo", "messages": [{"role": "user", "content": "a replica dies"}]}


@contextmanager
def serve(name: str, database_url: str, env: dict[str, str], logs: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    log = (logs / f"{name}.log").open("wb")
    process = subprocess.Popen([str(Path(sys.executable).parent / "llm-gateway"), "serve", "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT,
                               env={**env, "GATEWAY_DATABASE_URL": database_url,
                                    "GATEWAY_USAGE_CONSUMER_NAME": f"{name}-{unique()}"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not answers_health(url):
            assert process.poll() is None, (logs / f"{name}.log").read_text()[-2000:]
            assert time.monotonic() < deadline, f"{name} did not start"
            time.sleep(0.1)
        yield url, process
    finally:
        stop_process(process)
        log.close()



def _pending(redis: Redis, stream: str, group: str, prefix: str) -> int:
    try:
        consumers = redis.xinfo_consumers(stream, group)
    except Exception:
        return 0
    return sum(int(c["pending"]) for c in consumers if c["name"].decode().startswith(prefix))


def test_a_replica_killed_holding_unconfirmed_records(cluster: Cluster, fault_table: list[Figures],
                                                      tmp_path: Path) -> None:
    stream, group = f"gw:usage:kill:{unique()}", unique("group")
    redis_url = f"redis://127.0.0.1:{cluster.redis_server.port}/0"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({"GATEWAY_CONFIG": str(write_catalog(tmp_path, CATALOG.format(
                    faulty=cluster.faulty.url, healthy=cluster.healthy.url, bound=BOUND, rpm=6))),
                "GATEWAY_REDIS_URL": redis_url, "GATEWAY_ADMIN_KEY": ADMIN_KEY,
                "GATEWAY_USAGE_STREAM_KEY": stream, "GATEWAY_USAGE_CONSUMER_GROUP": group,
                "GATEWAY_USAGE_CLAIM_IDLE_SECONDS": "2", "GATEWAY_USAGE_FLUSH_INTERVAL_SECONDS": "0.1",
                "GATEWAY_DATABASE_TIMEOUT_SECONDS": str(BOUND), "GATEWAY_REDIS_TIMEOUT_SECONDS": str(BOUND),
                "GATEWAY_KEY_CACHE_TTL_SECONDS": "3600", "GATEWAY_LOG_LEVEL": "warning"})
    proxied = cluster.replicas[0].runtime.settings.database_url
    redis = Redis.from_url(redis_url)
    try:
        with serve("replica-a", proxied, env, tmp_path) as (url_a, process_a), \
                serve("replica-b", cluster.database_url, env, tmp_path) as (url_b, _):
            for url in (url_a, url_b):    # both know the key before A loses its database
                warm = httpx.post(url + "/v1/chat/completions", json=BODY, timeout=10,
                                  headers={"Authorization": f"Bearer {cluster.key}", "x-gateway-feature": "warm"})
                assert warm.status_code == 200, warm.text
            cluster.database.cut()
            try:
                load = Load([url_a, url_b], cluster.key, SCENARIO, BODY).start()
                deadline = time.monotonic() + 20
                while len(load.answers) < 150 or _pending(redis, stream, group, "replica-a") == 0:
                    assert time.monotonic() < deadline, "replica A never held unconfirmed records"
                    time.sleep(0.05)
                held = _pending(redis, stream, group, "replica-a")
                process_a.send_signal(signal.SIGKILL)
                process_a.wait(10)
                killed_at = len(load.answers)
                time.sleep(2.0)
            finally:
                cluster.database.restore()
            answers = load.stop()
            result = figures(SCENARIO, answers, cluster.database_url, wait=45)
            deadline = time.monotonic() + 30     # B claims what A left once it has been idle 2 s
            while (remaining := _pending(redis, stream, group, "replica-a")) and time.monotonic() < deadline:
                time.sleep(0.25)
    finally:
        redis.close()
    fault_table.append(result)
    print(f"replica A killed holding {held} unconfirmed records; {remaining} left pending under it after")

    assert result.statuses.get(200, 0) > 20, result.row()
    assert not [s for s in result.statuses if s >= 500], result.row()
    # Only requests in flight to A when it died, or sent to it after, go unanswered (status 0).
    assert killed_at >= 150
    assert all(a.status == 200 for a in answers[:killed_at - 8]), result.row()
    assert max(a.seconds for a in answers if a.status == 200) < BOUND + MARGIN, result.row()
    assert result.ok_recorded == result.ok, result.row()
    assert result.duplicates == 0, result.row()
    assert remaining == 0
