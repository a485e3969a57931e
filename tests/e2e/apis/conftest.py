"""A gateway serving one model, `chat-model`, from one of three upstream kinds -- the fake
OpenAI upstream, a vLLM-shaped server (the same fake at a root with /v1 and /health, behind
the `vllm` provider) and the fake Bedrock server (Converse bodies checked by botocore's
validator) -- so that every client-API test runs against each translation path."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings
from tests.fakes.bedrock_server import FakeBedrock, use_fake_credentials
from tests.fakes.openai_upstream import FakeOpenAI, FakeOpenAIServer
from tests.support.gateway import RunningGateway, running_gateway, write_catalog

MODEL = "chat-model"
KINDS = ("openai", "vllm", "bedrock")
BEDROCK_MODEL = "us.anthropic.claude-sonnet-4-20250514-v1:0"

_PROVIDERS = {
    "openai": '{{type: openai, base_url: "{url}", api_key: sk-upstream-secret, '
              'timeouts: {{connect: 2, first_byte: 5, idle: 5, total: 30}}}}',
    "vllm": '{{type: vllm, endpoints: ["{root}"], timeouts: {{connect: 2, first_byte: 5, idle: 5, total: 30}}}}',
    "bedrock": '{{type: bedrock, region: us-east-1, endpoint_url: "{url}", '
               'timeouts: {{connect: 2, first_byte: 5, idle: 5, total: 30}}}}',
}
CATALOG = """
providers:
  upstream: {provider}
models:
  {model}:
    price: {{input: 1.0, output: 2.0}}
    deployments: [{{provider: upstream, upstream: "{upstream}"}}]
  other-model:
    price: {{input: 1.0, output: 2.0}}
    deployments: [{{provider: upstream, upstream: "{upstream}"}}]
tiers:
  free: {{rpm: 1}}
  pro: {{rpm: 1000, tpm: 1000000}}
guardrails:
  pii: {{mode: redact, types: [ssn, credit_card, email, phone_us]}}
cache: {{mode: exact, ttl_seconds: 60, scope: tenant}}
"""


@dataclass
class Upstream:
    """The upstream behind the gateway and what it received, whatever its kind."""

    kind: str
    openai: FakeOpenAI | None = None
    bedrock: FakeBedrock | None = None

    def bodies(self) -> list[dict[str, Any]]:
        if self.openai is not None:
            return [seen.body for seen in self.openai.requests]
        assert self.bedrock is not None
        return [received.body for received in self.bedrock.received]

    def texts(self) -> str:
        """Everything the upstream was sent, as one text (for checking what reached it)."""
        import json
        return json.dumps(self.bodies())


@pytest.fixture(params=KINDS)
def upstream_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def upstream(upstream_kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Upstream]:
    if upstream_kind == "bedrock":
        use_fake_credentials(monkeypatch, tmp_path)
        with FakeBedrock.in_thread("us-east-1") as bedrock:
            yield Upstream(upstream_kind, bedrock=bedrock)
    else:
        with FakeOpenAIServer() as fake:
            yield Upstream(upstream_kind, openai=fake)


def catalog_for(upstream: Upstream) -> str:
    if upstream.bedrock is not None:
        provider = _PROVIDERS["bedrock"].format(url=upstream.bedrock.url)
        model = BEDROCK_MODEL
    else:
        assert upstream.openai is not None
        provider = _PROVIDERS[upstream.kind].format(url=upstream.openai.url, root=upstream.openai.url.removesuffix("/v1"))
        model = "fake-upstream-model"
    return CATALOG.format(provider=provider, model=MODEL, upstream=model)


@pytest.fixture
def gateway(upstream: Upstream, sqlite_url: str, tmp_path: Path) -> Iterator[RunningGateway]:
    config = write_catalog(tmp_path, catalog_for(upstream))
    with running_gateway(make_settings(sqlite_url, config)) as gw:
        yield gw


@pytest.fixture
def key(gateway: RunningGateway) -> str:
    return gateway.create_key()
