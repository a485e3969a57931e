"""`responses_api: true`: /v1/responses passed through to an upstream that has the Responses
API (the OpenAI fake's /v1/responses), with the input's PII redacted, usage read from the
Responses usage object, stored responses owned per tenant, and the translated path kept
for tenants whose answers are redacted."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import sqlalchemy as sa
from openai import OpenAI
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import make_settings
from tests.e2e.apis.schemas import sse_events, strict_response, strict_response_events
from tests.fakes.openai_upstream import Behavior, FakeOpenAI, FakeOpenAIServer
from tests.support.gateway import RunningGateway, running_gateway, write_catalog

CATALOG = """
providers:
  openai: {{type: openai, base_url: "{url}", api_key: sk-upstream-secret, responses_api: true,
           timeouts: {{connect: 2, first_byte: 5, idle: 5, total: 30}}}}
models:
  pt-model:
    price: {{input: 1.0, output: 2.0}}
    deployments: [{{provider: openai, upstream: gpt-5}}]
tiers:
  pro: {{rpm: 1000, tpm: 1000000}}
guardrails:
  pii: {{mode: redact, types: [ssn, email], responses: "{responses}"}}
cache: {{mode: exact, ttl_seconds: 60, scope: tenant}}
"""
WEATHER: Any = {"type": "function", "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAIServer() as server:
        yield server


def gateway_for(fake: FakeOpenAI, sqlite_url: str, tmp_path: Path, responses: str = "off") -> Any:
    config = write_catalog(tmp_path, CATALOG.format(url=fake.url, responses=responses))
    return running_gateway(make_settings(sqlite_url, config))


@pytest.fixture
def gateway(fake: FakeOpenAI, sqlite_url: str, tmp_path: Path) -> Iterator[RunningGateway]:
    with gateway_for(fake, sqlite_url, tmp_path) as gw:
        yield gw


def sdk(gateway: RunningGateway, key: str) -> OpenAI:
    return OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)


def test_passed_through_with_input_pii_redacted_and_usage_charged(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    tenant = gateway.create_tenant()
    key = gateway.create_key(tenant)
    raw = sdk(gateway, key).responses.with_raw_response.create(
        model="pt-model", instructions="mail ada@example.com", reasoning={"effort": "low"},
        input=[{"role": "user", "content": [{"type": "input_text", "text": "my SSN is 123-45-6789"}]},
               {"type": "function_call", "call_id": "c0", "name": "lookup", "arguments": '{"ssn": "123-45-6789"}'},
               {"type": "function_call_output", "call_id": "c0", "output": "found ada@example.com"}])
    response = strict_response(raw.http_response.json())
    assert response.model == "gpt-5-2026-01-01"            # the upstream's own answer
    [seen] = fake.requests
    assert seen.path == "/v1/responses" and seen.body["model"] == "gpt-5"
    assert seen.body["reasoning"] == {"effort": "low"}     # Responses-only fields reach the upstream
    sent = json.dumps(seen.body)
    assert "123-45-6789" not in sent and "ada@example.com" not in sent
    assert sent.count("[REDACTED-SSN]") == 2 and sent.count("[REDACTED-EMAIL]") == 2
    assert raw.headers["x-gateway-cache"] == "bypass"
    gateway.flush_usage()

    async def records() -> list[Any]:
        from gateway.usage.tables import usage_records
        engine = create_async_engine(gateway.runtime.settings.database_url)
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(usage_records).where(usage_records.c.tenant == tenant))).all()
        await engine.dispose()
        return list(rows)

    deadline = time.monotonic() + 10
    while not (rows := gateway.run(records)) and time.monotonic() < deadline:
        time.sleep(0.05)
    [record] = rows
    assert (record.api, record.prompt_tokens, record.cached_tokens, record.redactions) == ("responses", 13, 2, 4)


def test_stream_and_tool_round_trip(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    key = gateway.create_key()
    client = sdk(gateway, key)
    with client.responses.stream(model="pt-model", input="one two three") as stream:
        final = stream.get_final_response()
    assert final.output_text == "echo: one two three"
    raw = httpx.post(gateway.url + "/v1/responses", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                     json={"model": "pt-model", "input": "weather?", "tools": [WEATHER], "stream": True})
    events = strict_response_events(raw)
    calls = [item for item in events[-1].response.output if item.type == "function_call"]
    assert [c.arguments for c in calls] == ['{"city": "Paris"}', '{"city": "Oslo"}']
    turns: list[Any] = [
        *[{"type": "function_call", "call_id": c.call_id, "name": c.name, "arguments": c.arguments} for c in calls],
        *[{"type": "function_call_output", "call_id": c.call_id, "output": "sunny"} for c in calls]]
    answer = client.responses.create(model="pt-model", tools=[WEATHER], input=[
        {"role": "user", "content": "weather?"}, *turns])
    assert answer.output_text == "tool results: call_1=sunny; call_2=sunny"


def test_previous_response_id_must_be_the_tenants_own(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    owner, other = sdk(gateway, gateway.create_key()), sdk(gateway, gateway.create_key())
    first = owner.responses.create(model="pt-model", input="remember me")
    assert owner.responses.retrieve(first.id).id == first.id
    with pytest.raises(openai.NotFoundError):
        other.responses.create(model="pt-model", input="steal", previous_response_id=first.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(first.id)
    owner.responses.create(model="pt-model", input="go on", previous_response_id=first.id)
    assert fake.requests[-1].body["previous_response_id"] == first.id
    assert len(fake.requests) == 2


def test_a_cut_stream_ends_with_error_and_response_failed(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    key = gateway.create_key()
    fake.then(Behavior(kind="cut"))
    raw = httpx.post(gateway.url + "/v1/responses", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                     json={"model": "pt-model", "input": "one two three four five six", "stream": True})
    names = [name for name, _ in sse_events(raw)]
    assert names[0] == "response.created" and names[-2:] == ["error", "response.failed"]


def test_tenants_whose_answers_are_redacted_get_the_translated_path(fake: FakeOpenAI, sqlite_url: str,
                                                                    tmp_path: Path) -> None:
    with gateway_for(fake, sqlite_url, tmp_path, responses="redact") as gw:
        redacted = sdk(gw, gw.create_key()).responses.create(model="pt-model", input="hi")
        monitored = sdk(gw, gw.create_key(pii_mode="monitor")).responses.create(model="pt-model", input="hi")
    assert redacted.output_text == monitored.output_text == "echo: hi"
    assert [seen.path for seen in fake.requests] == ["/v1/chat/completions", "/v1/responses"]
