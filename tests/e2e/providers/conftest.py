"""Fixtures for the Anthropic and Azure OpenAI suites: the fake upstreams on loopback, a gateway
whose catalog points at them, an OpenAI SDK client with a fresh key, and the usage records."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from openai import OpenAI
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.usage.tables import usage_records
from tests.conftest import make_settings
from tests.fakes import azure_openai_upstream as azure
from tests.fakes.anthropic_upstream import API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic_upstream import FakeAnthropic, running_fake_anthropic
from tests.fakes.azure_openai_upstream import FakeAzureOpenAI, running_fake_azure
from tests.support.gateway import RunningGateway, running_gateway, write_catalog

TIMEOUTS = "{connect: 2, first_byte: 2, idle: 1, total: 30}"
LIMITS = """
tiers:
  pro: {rpm: 1000, tpm: 1000000}
cache: {mode: "off"}
"""


def anthropic_catalog(a: str, b: str) -> str:
    return f"""
providers:
  anthropic-a: {{type: anthropic, base_url: "{a}", api_key: "{ANTHROPIC_KEY}", timeouts: {TIMEOUTS}}}
  anthropic-b: {{type: anthropic, base_url: "{b}/v1", api_key: "{ANTHROPIC_KEY}", max_tokens: 1024,
                timeouts: {TIMEOUTS}}}
  anthropic-wrong-key: {{type: anthropic, base_url: "{a}", api_key: sk-ant-wrong-0123456789, timeouts: {TIMEOUTS}}}
models:
  claude:
    price: {{input: 3.0, output: 15.0, cached_input: 0.3}}
    deployments: [{{provider: anthropic-a, upstream: claude-sonnet-4-5}}]
  claude-two:
    price: {{input: 3.0, output: 15.0}}
    deployments:
      - {{provider: anthropic-a, upstream: claude-sonnet-4-5}}
      - {{provider: anthropic-b, upstream: claude-sonnet-4-5}}
  claude-wrong-key:
    price: {{input: 3.0, output: 15.0}}
    deployments: [{{provider: anthropic-wrong-key, upstream: claude-sonnet-4-5}}]
{LIMITS}"""


def azure_catalog(first: str, second: str) -> str:
    entra = (f'tenant_id: "{azure.TENANT}", client_id: "{azure.CLIENT_ID}", '
             f'authority: "{second}/{{tenant_id}}"')
    return f"""
providers:
  azure-key: {{type: azure_openai, endpoint: "{first}", api_key: "{azure.API_KEY}", timeouts: {TIMEOUTS}}}
  azure-v1: {{type: azure_openai, endpoint: "{first}/openai/", api_version: v1, api_key: "{azure.API_KEY}",
             timeouts: {TIMEOUTS}}}
  azure-entra: {{type: azure_openai, endpoint: "{second}", api_version: 2025-01-01-preview, {entra},
                client_secret: "{azure.CLIENT_SECRET}", timeouts: {TIMEOUTS}}}
  azure-wrong-secret: {{type: azure_openai, endpoint: "{second}", {entra}, client_secret: wrong-secret-0123456789,
                       timeouts: {TIMEOUTS}}}
  azure-wrong-key: {{type: azure_openai, endpoint: "{first}", api_key: azure-wrong-key-0123456789,
                    timeouts: {TIMEOUTS}}}
models:
  gpt-4o:
    price: {{input: 2.5, output: 10.0}}
    deployments: [{{provider: azure-key, upstream: gpt-4o-prod}}]
  gpt-4o-v1:
    price: {{input: 2.5, output: 10.0}}
    deployments: [{{provider: azure-v1, upstream: gpt-4o-prod}}]
  gpt-4o-entra:
    price: {{input: 2.5, output: 10.0}}
    deployments: [{{provider: azure-entra, upstream: gpt-4o-prod}}]
  gpt-4o-two:
    price: {{input: 2.5, output: 10.0}}
    deployments:
      - {{provider: azure-key, upstream: gpt-4o-prod}}
      - {{provider: azure-entra, upstream: gpt-4o-prod}}
  gpt-4o-missing:
    price: {{input: 2.5, output: 10.0}}
    deployments: [{{provider: azure-key, upstream: no-such-deployment}}]
  gpt-4o-wrong-secret:
    price: {{input: 2.5, output: 10.0}}
    deployments: [{{provider: azure-wrong-secret, upstream: gpt-4o-prod}}]
  gpt-4o-wrong-key:
    price: {{input: 2.5, output: 10.0}}
    deployments: [{{provider: azure-wrong-key, upstream: gpt-4o-prod}}]
  embed:
    kind: embeddings
    price: {{input: 0.02, output: 0}}
    deployments: [{{provider: azure-entra, upstream: embed-small}}]
{LIMITS}"""


@pytest.fixture
def anthropic_fakes() -> Iterator[tuple[FakeAnthropic, FakeAnthropic]]:
    with running_fake_anthropic() as a, running_fake_anthropic() as b:
        yield a, b


@pytest.fixture
def azure_fakes() -> Iterator[tuple[FakeAzureOpenAI, FakeAzureOpenAI]]:
    with running_fake_azure() as first, running_fake_azure() as second:
        yield first, second


@pytest.fixture
def anthropic_gateway(anthropic_fakes: tuple[FakeAnthropic, FakeAnthropic], sqlite_url: str,
                      tmp_path: Path) -> Iterator[RunningGateway]:
    a, b = anthropic_fakes
    with running_gateway(make_settings(sqlite_url, write_catalog(tmp_path, anthropic_catalog(a.url, b.url)))) as gw:
        yield gw


@pytest.fixture
def azure_gateway(azure_fakes: tuple[FakeAzureOpenAI, FakeAzureOpenAI], sqlite_url: str,
                  tmp_path: Path) -> Iterator[RunningGateway]:
    first, second = azure_fakes
    catalog = azure_catalog(first.endpoint, second.endpoint)
    with running_gateway(make_settings(sqlite_url, write_catalog(tmp_path, catalog))) as gw:
        yield gw


def sdk_client(gateway: RunningGateway, tenant: str | None = None) -> OpenAI:
    return OpenAI(base_url=gateway.url + "/v1", api_key=gateway.create_key(tenant), max_retries=0, timeout=30)


def usage_rows(gateway: RunningGateway, tenant: str, count: int) -> list[sa.Row[Any]]:
    """The tenant's usage records, once `count` of them are written (10 s at most)."""
    gateway.flush_usage()

    async def query() -> list[sa.Row[Any]]:
        engine = create_async_engine(gateway.runtime.settings.database_url)
        async with engine.connect() as conn:
            rows = list((await conn.execute(sa.select(usage_records).where(usage_records.c.tenant == tenant)
                                            .order_by(usage_records.c.id))).all())
        await engine.dispose()
        return rows

    deadline = time.monotonic() + 10
    rows: list[sa.Row[Any]] = gateway.run(query)
    while len(rows) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        rows = gateway.run(query)
    return rows
