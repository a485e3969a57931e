"""One gateway in production mode (PostgreSQL, Redis, a fake OpenAI upstream and the mock
provider) for the fuzz suites of this package, and the error-shape checks they share."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from tests.conftest import REDIS_URL, make_settings, require_redis
from tests.fakes.openai_upstream import FakeOpenAIServer
from tests.support.gateway import RunningGateway, running_gateway, write_catalog

MAX_BODY_BYTES = 256 * 1024

CATALOG = """
providers:
  upstream: {{type: openai, base_url: "{url}", api_key: sk-upstream-secret,
             timeouts: {{connect: 2, first_byte: 5, idle: 5, total: 10}}}}
  mock:     {{type: mock}}
models:
  gpt-4o-mini:
    price: {{input: 0.15, output: 0.60}}
    deployments: [{{provider: upstream, upstream: gpt-4o-mini}}]
  mock-echo:
    price: {{input: 0, output: 0}}
    deployments: [{{provider: mock, upstream: echo}}]
  embed:
    kind: embeddings
    price: {{input: 0.02, output: 0}}
    deployments: [{{provider: upstream, upstream: text-embedding-3-small}}]
tiers:
  free: {{rpm: 2}}
  fuzz: {{rpm: 1000000, tpm: 1000000000}}
guardrails:
  pii: {{mode: redact, types: [ssn, email]}}
cache: {{mode: exact, ttl_seconds: 60, scope: tenant}}
"""


@dataclass
class FuzzTarget:
    gw: RunningGateway
    key: str

    def headers(self, path: str) -> dict[str, str]:
        if path.startswith("/admin") or path == "/metrics":
            return {"Authorization": f"Bearer {self.gw.admin_key}"}
        return {"Authorization": f"Bearer {self.key}", "x-api-key": self.key, "anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def fuzz_target(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    require_redis()
    with FakeOpenAIServer() as upstream:
        config = write_catalog(tmp_path_factory.mktemp("fuzz"), CATALOG.format(url=upstream.url))
        settings = make_settings(postgres_url, config, redis_url=REDIS_URL, max_body_bytes=MAX_BODY_BYTES)
        with running_gateway(settings) as gw:
            yield FuzzTarget(gw, gw.create_key(models=["*"], tier="fuzz"))


def error_shape_problem(path: str, status: int, content: bytes) -> str | None:
    """Why a gateway 4xx is not in its API's error shape (None when it is): Anthropic's
    `{"type": "error", "error": {"type", "message"}}` on /v1/messages, OpenAI's four fields
    `{"error": {"message", "type", "param", "code"}}` everywhere else."""
    if status < 400:
        return None
    try:
        body: Any = orjson.loads(content)
    except orjson.JSONDecodeError:
        return f"not JSON: {content[:200]!r}"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return f"no error object: {body!r:.200}"
    if path.startswith("/v1/messages"):
        if body.get("type") != "error" or not isinstance(error.get("type"), str) \
                or not isinstance(error.get("message"), str):
            return f"not Anthropic's error shape: {body!r:.200}"
        return None
    if set(error) < {"message", "type", "param", "code"} or not isinstance(error["message"], str) \
            or not isinstance(error["type"], str):
        return f"not OpenAI's error shape: {body!r:.200}"
    return None
