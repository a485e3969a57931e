"""`llm-gateway serve --workers 2` as an operator runs it: the same scripted traffic as the
single-process test, and every scrape -- whichever worker answers it -- holds the totals of
both workers. A killed worker is replaced without its counts being lost, its live gauges
are dropped, and SIGTERM stops everything cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.openai_upstream import FakeOpenAI
from tests.integration.telemetry.scrape import Samples, scrape
from tests.integration.telemetry.traffic import MODEL, PROMPTS, chat, scripted_traffic
from tests.support.catalogs import two_upstreams
from tests.support.threads import free_port

ADMIN_KEY = "sk-admin-workers-test-0123456789abcdef0123456789"
STARTUP_SECONDS = 90


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    url: str
    admin_url: str
    log: Path
    metrics_dir: Path

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for raw in self.log.read_text(errors="replace").splitlines():
            if raw.startswith("{"):
                out.append(json.loads(raw))
        return out

    def worker_pids(self) -> set[int]:
        """Processes that opened a gateway, other than the supervisor (which prepares once)."""
        return {line["pid"] for line in self.lines()
                if line.get("msg") == "gateway starting" and line["pid"] != self.process.pid}

    def serving_pids(self) -> set[int]:
        return {line["pid"] for line in self.lines() if line.get("logger") == "gateway.request"}

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.admin_url + path, headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                             timeout=30, **kwargs)

    def wait_for_workers(self, count: int, exclude: set[int] = frozenset()) -> set[int]:  # type: ignore[assignment]
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            pids = self.worker_pids() - exclude
            if len(pids) >= count and _ready(self.url) and _ready(self.admin_url, "/healthz"):
                return pids
            time.sleep(0.2)
        raise AssertionError(f"workers did not start:\n{self.log.read_text()}")


def _ready(url: str, path: str = "/readyz") -> bool:
    try:
        return httpx.get(url + path, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def served(upstreams: tuple[FakeOpenAI, FakeOpenAI], tmp_path: Path, redis_url: str) -> Iterator[Served]:
    """Workers share limits and cache through Redis, as any multi-process deployment must."""
    primary, secondary = upstreams
    config = tmp_path / "gateway.yaml"
    config.write_text(two_upstreams(primary.url, secondary.url))
    port, admin_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OTEL_", "PROMETHEUS_"))}
    env.update(GATEWAY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}", GATEWAY_ADMIN_KEY=ADMIN_KEY,
               GATEWAY_REDIS_URL=redis_url,
               GATEWAY_BOOTSTRAP_DEMO_TENANT="false", PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    log = tmp_path / "serve.log"
    command = Path(sys.executable).parent / "llm-gateway"
    with log.open("wb") as out:
        process = subprocess.Popen([str(command), "serve", "--workers", "2", "--port", str(port),
                                    "--admin-port", str(admin_port), "--config", str(config)],
                                   cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    served = Served(process, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}", log, tmp_path / "metrics")
    try:
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def create_key(served: Served, tier: str) -> tuple[str, str]:
    name = f"w{os.urandom(5).hex()}"
    response = served.admin("POST", "/admin/tenants", json={"name": name, "tier": tier, "models": ["*"]})
    assert response.status_code == 201, response.text
    response = served.admin("POST", f"/admin/tenants/{name}/keys", json={"label": "test"})
    assert response.status_code == 201, response.text
    return name, response.json()["key"]


def tenant_counts(samples: Samples, tenant: str) -> dict[str, float]:
    return {
        "requests": samples.total("gateway_requests_total", tenant=tenant),
        "hits": samples.value("gateway_requests_total", tenant=tenant, model=MODEL, provider="cache", status="200"),
        "prompt_tokens": samples.value("gateway_tokens_total", tenant=tenant, model=MODEL, kind="prompt"),
        "redactions": samples.value("gateway_guardrail_events_total", tenant=tenant, type="email"),
        "rejections": samples.total("gateway_ratelimit_rejections_total", tenant=tenant),
    }


def test_two_workers_report_one_set_of_totals(served: Served, upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    primary, _ = upstreams
    first_pids = served.wait_for_workers(2)
    assert httpx.get(served.url + "/admin/tenants", timeout=10).status_code == 404   # admin stays off --port
    before = scrape(served.admin_url)
    pro, pro_key = create_key(served, "pro")
    free, free_key = create_key(served, "free")
    traffic = scripted_traffic(served.url, pro_key, free_key, primary)
    # Both workers must have answered something for the merge to be tested; connections
    # are spread by the kernel, so add a bounded number of requests until they have.
    spread, spread_key = create_key(served, "pro")
    for i in range(40):
        if len(served.serving_pids()) >= 2:
            break
        assert chat(served.url, spread_key, f"spread {i}", model="mock-echo").status_code == 200
    assert served.serving_pids() == first_pids

    expected = {"requests": 5, "hits": 1, "prompt_tokens": 44, "redactions": 1, "rejections": 0}
    expected_free = {"requests": 3, "hits": 1, "prompt_tokens": 11, "redactions": 0, "rejections": 1}
    scrapes = [scrape(served.admin_url) for _ in range(6)]       # new connections: either worker may answer
    for samples in scrapes:
        assert tenant_counts(samples, pro) == expected
        assert tenant_counts(samples, free) == expected_free
        assert samples.delta(before, "gateway_overhead_seconds_count") == len(traffic.responses) + \
            samples.total("gateway_requests_total", tenant=spread)
        assert samples.delta(before, "gateway_fallbacks_total", from_provider="primary", to_provider="secondary") == 1
        assert samples.value("gateway_ratelimit_rejections_total", tenant=free, limit=traffic.limit) == 1
        assert samples.delta(before, "gateway_time_to_first_token_seconds_count", provider="primary", model=MODEL) == 1
        assert samples.value("gateway_circuit_state", provider="primary") in (0, 1, 2)

    # A worker killed outright is replaced; what it counted stays counted, its gauges go.
    victim = min(first_pids)
    os.kill(victim, signal.SIGKILL)
    served.wait_for_workers(1, exclude=first_pids)
    assert not (served.metrics_dir / f"gauge_livemax_{victim}.db").exists()
    assert (served.metrics_dir / f"counter_{victim}.db").exists()
    for _ in range(4):
        samples = scrape(served.admin_url)
        assert tenant_counts(samples, pro) == expected
        assert tenant_counts(samples, free) == expected_free

    log_text = served.log.read_text(errors="replace")
    for secret in (pro_key, free_key, spread_key, ADMIN_KEY, "sk-upstream-secret"):
        assert secret not in log_text
    for prompt in PROMPTS.values():
        assert prompt not in log_text

    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(60) == 0
    assert served.metrics_dir.is_dir()         # a directory the operator gave is kept
