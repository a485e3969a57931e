"""Two gateway replicas sharing PostgreSQL and a private redis-server, each reached through
a TCP proxy the tests control (cut = refused, partition = no byte passes, restore), and two
fake OpenAI upstreams (the first one faulty on demand, the second healthy)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.db import migrate_sync
from tests.conftest import POSTGRES_HOST, POSTGRES_PORT, _admin_sql, make_settings, require_postgres, unique
from tests.fakes.openai_upstream import Behavior, FakeOpenAI, FakeOpenAIServer
from tests.faults.harness import HEADER, Figures
from tests.support.gateway import RunningGateway, running_gateway, write_catalog
from tests.support.redis_cluster import RedisServer, require_redis_server
from tests.support.tcp_proxy import TcpProxy

BOUND = 1.0        # GATEWAY_DATABASE_TIMEOUT_SECONDS, GATEWAY_REDIS_TIMEOUT_SECONDS, the upstream first byte and idle
MARGIN = 1.5       # what a loaded 2-core machine may add to a bound
LIMIT_RPM = 6      # the tier the limits check uses

CATALOG = """
providers:
  faulty:  {{type: openai, base_url: "{faulty}", api_key: sk-upstream-faulty,
            timeouts: {{connect: 1, first_byte: {bound}, idle: {bound}, total: 5}}}}
  healthy: {{type: openai, base_url: "{healthy}", api_key: sk-upstream-healthy,
            timeouts: {{connect: 1, first_byte: {bound}, idle: {bound}, total: 5}}}}
  mock:    {{type: mock}}
models:
  gpt-4o-mini:
    price: {{input: 0.15, output: 0.60}}
    deployments:
      - {{provider: faulty, upstream: gpt-4o-mini}}
      - {{provider: healthy, upstream: gpt-4o-mini}}
  faulty-only:
    price: {{input: 0.15, output: 0.60}}
    deployments: [{{provider: faulty, upstream: gpt-4o-mini}}]
  mock-echo:
    price: {{input: 0.5, output: 1.5}}
    deployments: [{{provider: mock, upstream: echo}}]
tiers:
  load:  {{rpm: 1000000, tpm: 1000000000}}
  exact: {{rpm: {rpm}}}
routing:
  breaker: {{failure_rate: 0.5, min_requests: 5, window_seconds: 10, cooldown_seconds: 2}}
guardrails:
  pii: {{mode: redact}}
cache: {{mode: "off"}}
"""


@dataclass
class Cluster:
    replicas: list[RunningGateway]
    database: TcpProxy
    database_url: str             # around the proxy, for the test's own reads
    redis: TcpProxy
    redis_server: RedisServer
    faulty: FakeOpenAI
    healthy: FakeOpenAI
    key: str

    @property
    def urls(self) -> list[str]:
        return [gw.url for gw in self.replicas]

    def exact_key(self) -> str:
        """A new key of a tenant on the `exact` tier (LIMIT_RPM requests a minute)."""
        return self.replicas[0].create_key(models=["*"], tier="exact")

    def upstreams_ok(self) -> None:
        self.faulty.script.clear()
        self.faulty.default = Behavior()

    def wait_for_closed_breakers(self, timeout: float = 15) -> None:
        """Until the faulty upstream answers through both replicas again: a scenario that
        opened its breaker must not leak 503s into the next one."""
        deadline = time.monotonic() + timeout
        body = {"model": "faulty-only", "messages": [{"role": "user", "content": "probe"}]}
        headers = {"Authorization": f"Bearer {self.key}", "x-gateway-feature": "probe"}
        for url in self.urls:
            while httpx.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=10).status_code != 200:
                assert time.monotonic() < deadline, "the faulty upstream's breaker did not close"
                time.sleep(0.2)


_TABLE: list[Figures] = []


@pytest.fixture
def fault_table() -> list[Figures]:
    """Every scenario's figures; printed as one table at the end of the run."""
    return _TABLE


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _TABLE:
        return
    terminalreporter.write_sep("-", "fault scenarios")
    terminalreporter.write_line("requests, statuses (0 = no answer), worst latency, 200s with a record, "
                                "records, duplicates, limits after recovery")
    terminalreporter.write_line(HEADER)
    for row in _TABLE:
        terminalreporter.write_line(row.row())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_postgres()
    require_redis_server()
    name = f"gw_fault_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    directory = tmp_path_factory.mktemp("faults")
    redis_server = RedisServer(directory / "redis")
    redis_server.start()
    try:
        with ExitStack() as stack:
            database = stack.enter_context(TcpProxy(POSTGRES_HOST, POSTGRES_PORT))
            redis = stack.enter_context(TcpProxy("127.0.0.1", redis_server.port))
            faulty = stack.enter_context(FakeOpenAIServer())
            healthy = stack.enter_context(FakeOpenAIServer())
            direct_url = f"postgresql+asyncpg://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
            migrate_sync(direct_url)
            config = write_catalog(directory, CATALOG.format(faulty=faulty.url, healthy=healthy.url, bound=BOUND,
                                                             rpm=LIMIT_RPM))
            settings = make_settings(
                f"postgresql+asyncpg://postgres@127.0.0.1:{database.port}/{name}", Path(config),
                redis_url=f"redis://127.0.0.1:{redis.port}/0", usage_stream_key=f"gw:usage:fault:{unique()}",
                database_timeout_seconds=BOUND, redis_timeout_seconds=BOUND, usage_claim_idle_seconds=3.0,
                usage_flush_interval_seconds=0.2)
            replicas = [stack.enter_context(running_gateway(settings)) for _ in range(2)]
            key = replicas[0].create_key(models=["*"], tier="load")
            yield Cluster(replicas, database, direct_url, redis, redis_server, faulty, healthy, key)
    finally:
        redis_server.stop()
        asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
