"""The stages apply to /v1/responses, /v1/messages and /v1/completions as to chat completions:
quota, allowlist, PII redaction of every text the model reads, the cache, and a usage record
that names the client API (one upstream kind: the stages do not depend on it)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import anthropic
import httpx
import openai
import pytest
import sqlalchemy as sa
from anthropic import Anthropic
from openai import OpenAI
from sqlalchemy.ext.asyncio import create_async_engine

from tests.e2e.apis.conftest import MODEL, Upstream
from tests.e2e.apis.schemas import sse_events, strict_chat, strict_completion
from tests.support.gateway import RunningGateway

SSN, EMAIL, CARD = "123-45-6789", "ada@example.com", "4111 1111 1111 1111"


@pytest.fixture
def upstream_kind() -> str:
    return "openai"


def sdk(gateway: RunningGateway, key: str) -> OpenAI:
    return OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)


def claude(gateway: RunningGateway, key: str) -> Anthropic:
    return Anthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=30)


def test_quota_refuses_each_new_route(gateway: RunningGateway) -> None:
    responses_key, completions_key = gateway.create_key(tier="free"), gateway.create_key(tier="free")
    sdk(gateway, responses_key).responses.create(model=MODEL, input="hi")
    with pytest.raises(openai.RateLimitError):
        sdk(gateway, responses_key).responses.create(model=MODEL, input="hi again")
    sdk(gateway, completions_key).completions.create(model=MODEL, prompt="hi")
    with pytest.raises(openai.RateLimitError):
        sdk(gateway, completions_key).completions.create(model=MODEL, prompt="hi again")


def test_allowlist_refuses_each_new_route(gateway: RunningGateway, upstream: Upstream) -> None:
    key = gateway.create_key(models=["other-model"])
    with pytest.raises(openai.PermissionDeniedError):
        sdk(gateway, key).responses.create(model=MODEL, input="hi")
    with pytest.raises(openai.PermissionDeniedError):
        sdk(gateway, key).completions.create(model=MODEL, prompt="hi")
    with pytest.raises(anthropic.PermissionDeniedError):
        claude(gateway, key).messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.NotFoundError):
        sdk(gateway, key).models.retrieve(MODEL)
    assert sdk(gateway, key).models.retrieve("other-model").id == "other-model"
    assert upstream.bodies() == []


def test_pii_is_redacted_in_every_text_the_model_reads(gateway: RunningGateway, upstream: Upstream, key: str) -> None:
    sdk(gateway, key).responses.create(model=MODEL, instructions=f"the user is {EMAIL}", input=[
        {"role": "user", "content": [{"type": "input_text", "text": f"my SSN is {SSN}"}]},
        {"type": "function_call", "call_id": "call_9", "name": "lookup", "arguments": json.dumps({"card": CARD})},
        {"type": "function_call_output", "call_id": "call_9", "output": f"found {EMAIL}"}])
    claude(gateway, key).messages.create(
        model=MODEL, max_tokens=20, system=[{"type": "text", "text": f"user {EMAIL}"}], messages=[
            {"role": "user", "content": f"SSN {SSN}"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {"card": CARD}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": f"mail {EMAIL}"}]}])
    sdk(gateway, key).completions.create(model=MODEL, prompt=f"write to {EMAIL}")
    sent = upstream.texts()
    assert len(upstream.bodies()) == 3
    for raw in (SSN, EMAIL, CARD, "4111111111111111"):
        assert raw not in sent
    for marker in ("[REDACTED-SSN]", "[REDACTED-EMAIL]", "[REDACTED-CREDIT_CARD]"):
        assert marker in sent


def test_cache_answers_each_new_route(gateway: RunningGateway, upstream: Upstream, key: str) -> None:
    client = sdk(gateway, key)
    first = client.responses.create(model=MODEL, input="cache me", store=False)
    again = client.responses.with_raw_response.create(model=MODEL, input="cache me", store=False)
    assert again.headers["x-gateway-cache"] == "hit" and again.parse().output_text == first.output_text
    streamed = httpx.post(gateway.url + "/v1/responses", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                          json={"model": MODEL, "input": "cache me", "stream": True, "store": False})
    assert streamed.headers["x-gateway-cache"] == "hit"
    assert sse_events(streamed)[-1][1]["response"]["output"][0]["content"][0]["text"] == first.output_text

    ask: Any = [{"role": "user", "content": "cache me too"}]
    claude(gateway, key).messages.create(model=MODEL, max_tokens=30, messages=ask)
    hit = claude(gateway, key).messages.with_raw_response.create(model=MODEL, max_tokens=30, messages=ask)
    assert hit.headers["x-gateway-cache"] == "hit"
    client.completions.create(model=MODEL, prompt="and me")
    assert client.completions.with_raw_response.create(model=MODEL, prompt="and me").headers["x-gateway-cache"] == "hit"
    assert len(upstream.bodies()) == 3


def test_completions_plain_and_streamed(gateway: RunningGateway, key: str) -> None:
    raw = httpx.post(gateway.url + "/v1/completions", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                     json={"model": MODEL, "prompt": "say this", "max_tokens": 20})
    completion = strict_completion(raw.json())
    assert completion.choices[0].text == "echo: say this" and completion.usage is not None
    chunks = list(sdk(gateway, key).completions.create(model=MODEL, prompt="one two", stream=True,
                                                       stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "echo: one two"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    with pytest.raises(openai.BadRequestError):
        sdk(gateway, key).completions.create(model=MODEL, prompt="x", echo=True)


def test_chat_completions_carry_refusal_null(gateway: RunningGateway, key: str) -> None:
    raw = httpx.post(gateway.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                     json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    body = raw.json()
    assert body["choices"][0]["message"]["refusal"] is None
    strict_chat({k: v for k, v in body.items() if k != "unknown_upstream_field"})


def test_usage_records_name_the_api(gateway: RunningGateway) -> None:
    tenant = gateway.create_tenant()
    key = gateway.create_key(tenant)
    sdk(gateway, key).responses.create(model=MODEL, input="a")
    claude(gateway, key).messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "b"}])
    sdk(gateway, key).completions.create(model=MODEL, prompt="c")
    sdk(gateway, key).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "d"}])
    gateway.flush_usage()

    async def apis() -> list[str]:
        from gateway.usage.tables import usage_records
        engine = create_async_engine(gateway.runtime.settings.database_url)
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(usage_records.c.api).where(usage_records.c.tenant == tenant))).all()
        await engine.dispose()
        return sorted(r.api for r in rows)

    deadline = time.monotonic() + 10
    while len(found := gateway.run(apis)) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert found == ["chat", "completions", "messages", "responses"]
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    report = gateway.admin("GET", "/admin/usage", params={"since": since, "tenant": tenant, "group_by": "api"})
    assert report.status_code == 200, report.text
    assert {row["api"]: row["requests"] for row in report.json()["rows"]} == {
        "chat": 1, "completions": 1, "messages": 1, "responses": 1}


def test_an_upstream_cut_mid_stream_ends_each_stream_with_its_error_event(gateway: RunningGateway,
                                                                         upstream: Upstream, key: str) -> None:
    from tests.fakes.openai_upstream import Behavior

    assert upstream.openai is not None
    upstream.openai.then(Behavior(kind="cut", text="one two three four five six"),
                         Behavior(kind="cut", text="one two three four five six"))
    responses = httpx.post(gateway.url + "/v1/responses", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                           json={"model": MODEL, "input": "tell me", "stream": True})
    events = sse_events(responses)
    assert [name for name, _ in events][-2:] == ["error", "response.failed"]
    assert events[-1][1]["response"]["status"] == "failed"
    with pytest.raises(openai.NotFoundError):     # a failed response is not stored
        sdk(gateway, key).responses.retrieve(events[0][1]["response"]["id"])

    messages = httpx.post(gateway.url + "/v1/messages", headers={"x-api-key": key}, timeout=30,
                          json={"model": MODEL, "max_tokens": 50, "stream": True,
                                "messages": [{"role": "user", "content": "tell me"}]})
    name, data = sse_events(messages)[-1]
    assert name == "error" and data["type"] == "error" and data["error"]["type"] == "api_error"
