"""/v1/embeddings through the OpenAI SDK: the same stages as chat -- key, quota, allowlist,
PII in the inputs, failover across deployments, a usage record."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest
import sqlalchemy as sa
from openai import OpenAI
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.usage.tables import usage_records
from providers.mock import _vector
from tests.conftest import make_settings
from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.gateway import RunningGateway, running_gateway, write_catalog

CATALOG = """
providers:
  down: {{type: openai, base_url: "http://127.0.0.1:9/v1", api_key: sk-x, timeouts: {{connect: 1}}}}
  up:   {{type: openai, base_url: "{url}", api_key: sk-upstream-secret}}
  mock: {{type: mock}}
models:
  text-embedding-3-small:
    kind: embeddings
    price: {{input: 0.02, output: 0}}
    deployments: [{{provider: down, upstream: text-embedding-3-small}}, {{provider: up, upstream: text-embedding-3-small}}]
  mock-embed:
    kind: embeddings
    price: {{input: 0.02, output: 0}}
    deployments: [{{provider: mock, upstream: embed}}]
  mock-echo:
    price: {{input: 0, output: 0}}
    deployments: [{{provider: mock, upstream: echo}}]
tiers:
  pro: {{rpm: 1000}}
  tiny: {{rpm: 1}}
guardrails:
  pii: {{mode: redact}}
"""


@pytest.fixture
def gateway(upstream: FakeOpenAI, sqlite_url: str, tmp_path: Path) -> Iterator[RunningGateway]:
    config = write_catalog(tmp_path, CATALOG.format(url=upstream.url))
    with running_gateway(make_settings(sqlite_url, config)) as gw:
        yield gw


def client(gw: RunningGateway, key: str) -> OpenAI:
    return OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


def test_embeddings_fail_over_and_are_recorded(gateway: RunningGateway) -> None:
    tenant = gateway.create_tenant()
    raw = client(gateway, gateway.create_key(tenant)).embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=["alpha", "beta"])
    result = raw.parse()
    assert [d.embedding[-1] for d in result.data] == [5.0, 4.0]      # the fake's marker: len(text)
    assert result.model == "text-embedding-3-small"
    assert raw.headers["x-gateway-provider"] == "up"                  # `down` refused the connection
    gateway.flush_usage()

    async def query() -> list[sa.Row[Any]]:
        engine = create_async_engine(gateway.runtime.settings.database_url)
        async with engine.connect() as conn:
            rows = list((await conn.execute(sa.select(usage_records).where(usage_records.c.tenant == tenant))).all())
        await engine.dispose()
        return rows

    deadline = time.monotonic() + 10
    while not (rows := gateway.run(query)) and time.monotonic() < deadline:
        time.sleep(0.05)
    [record] = rows
    assert (record.model, record.provider, record.prompt_tokens, record.fallback_count) == (
        "text-embedding-3-small", "up", 6, 1)
    assert Decimal(record.cost_usd) == Decimal(6) * Decimal("0.02") / 1_000_000


def test_pii_in_inputs_is_redacted_before_the_provider(gateway: RunningGateway) -> None:
    result = client(gateway, gateway.create_key()).embeddings.create(
        model="mock-embed", input="reach me at jane.doe@example.com")
    # the mock's vector is a hash of the text it received (sent as base64 float32s: the SDK
    # asks for encoding_format=base64 by default, and the mock honours it as OpenAI does)
    assert result.data[0].embedding == pytest.approx(_vector("reach me at [REDACTED-EMAIL]"), abs=1e-6)


def test_embeddings_errors_are_openai_shaped(gateway: RunningGateway) -> None:
    c = client(gateway, gateway.create_key(models=["mock-echo", "mock-embed"]))
    with pytest.raises(openai.BadRequestError):
        c.embeddings.create(model="mock-echo", input="x")            # a chat model
    with pytest.raises(openai.NotFoundError):
        c.embeddings.create(model="no-such-model", input="x")
    with pytest.raises(openai.PermissionDeniedError):
        c.embeddings.create(model="text-embedding-3-small", input="x")   # not in the allowlist
    with pytest.raises(openai.BadRequestError):
        c.embeddings.create(model="mock-embed", input=[])
    with pytest.raises(openai.AuthenticationError):
        client(gateway, "sk-nobody-" + "y" * 43).embeddings.create(model="mock-embed", input="x")


def test_embeddings_count_against_the_quota(gateway: RunningGateway) -> None:
    c = client(gateway, gateway.create_key(tier="tiny"))
    c.embeddings.create(model="mock-embed", input="one")
    with pytest.raises(openai.RateLimitError):
        c.embeddings.create(model="mock-embed", input="two")
