"""The official Anthropic SDK against the gateway's /v1/messages, for each upstream kind
(OpenAI-compatible, vLLM-shaped, Bedrock): create, stream, a tool-use round trip, images,
count_tokens and each error class; bodies and events validated by the SDK's own types in
strict mode."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import pytest
from anthropic import Anthropic

from tests.e2e.apis.conftest import MODEL, Upstream
from tests.e2e.apis.schemas import strict_message, strict_message_events
from tests.e2e.apis.test_responses_sdk import expect_tool_calls
from tests.support.gateway import RunningGateway

WEATHER: Any = {"name": "get_weather", "description": "Weather now",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def client(gateway: RunningGateway, key: str) -> Anthropic:
    return Anthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=30)


def test_create(gateway: RunningGateway, key: str, upstream: Upstream) -> None:
    raw = client(gateway, key).messages.with_raw_response.create(
        model=MODEL, max_tokens=100, system=[{"type": "text", "text": "be brief"}],
        extra_body={"temperature": 0.3, "top_p": 0.9, "top_k": 5},   # (this SDK version has no such arguments)
        stop_sequences=["STOP"], metadata={"user_id": "user-7"},
        messages=[{"role": "user", "content": "hello there"}])
    message = strict_message(raw.http_response.json())
    assert message.role == "assistant" and message.model == MODEL and message.stop_reason == "end_turn"
    assert message.content[0].type == "text" and message.content[0].text.endswith("hello there")
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    sent = upstream.texts()
    assert "be brief" in sent and "STOP" in sent and "0.3" in sent


def test_bearer_auth_and_version_header(gateway: RunningGateway, key: str) -> None:
    response = httpx.post(gateway.url + "/v1/messages", timeout=30,
                          headers={"Authorization": f"Bearer {key}", "anthropic-version": "2023-06-01"},
                          json={"model": MODEL, "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200, response.text
    strict_message(response.json())


def test_stream(gateway: RunningGateway, key: str) -> None:
    sdk = client(gateway, key)
    with sdk.messages.stream(model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "one two three"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text.endswith("one two three") and final.content[0].type == "text" and final.content[0].text == text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0

    raw = httpx.post(gateway.url + "/v1/messages", headers={"x-api-key": key}, timeout=30,
                     json={"model": MODEL, "max_tokens": 50, "stream": True,
                           "messages": [{"role": "user", "content": "four five"}]})
    types = [e.type for e in strict_message_events(raw)]
    assert types[:2] == ["message_start", "ping"] and types[-2:] == ["message_delta", "message_stop"]
    assert {"content_block_start", "content_block_delta", "content_block_stop"} <= set(types)


def test_tool_use_round_trip(gateway: RunningGateway, key: str, upstream: Upstream) -> None:
    sdk = client(gateway, key)
    expect_tool_calls(upstream)
    ask: Any = {"role": "user", "content": [
        {"type": "text", "text": "weather in Paris and Oslo?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}}]}
    raw = sdk.messages.with_raw_response.create(model=MODEL, max_tokens=200, tools=[WEATHER],
                                                tool_choice={"type": "auto"}, messages=[ask])
    first = strict_message(raw.http_response.json())
    assert first.stop_reason == "tool_use"
    uses = [block for block in first.content if block.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})]
    turns: list[Any] = [{"role": "assistant", "content": [u.model_dump() for u in uses]},
                        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": u.id,
                                                      "content": f"sunny {i}"} for i, u in enumerate(uses)]}]
    second = sdk.messages.create(model=MODEL, max_tokens=200, tools=[WEATHER], messages=[ask, *turns])
    assert second.content[0].type == "text"
    assert second.content[0].text == f"tool results: {uses[0].id}=sunny 0; {uses[1].id}=sunny 1"


def test_streamed_tool_use(gateway: RunningGateway, key: str, upstream: Upstream) -> None:
    expect_tool_calls(upstream)
    with client(gateway, key).messages.stream(model=MODEL, max_tokens=200, tools=[WEATHER],
                                              messages=[{"role": "user", "content": "weather?"}]) as s:
        final = s.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [b.input for b in final.content if b.type == "tool_use"] == [{"city": "Paris"}, {"city": "Oslo"}]
    raw = httpx.post(gateway.url + "/v1/messages", headers={"x-api-key": key}, timeout=30,
                     json={"model": MODEL, "max_tokens": 50, "stream": True, "tools": [WEATHER],
                           "messages": [{"role": "user", "content": "weather?"}]})
    if upstream.bedrock is None:    # (Bedrock's default answer has no tool use)
        deltas = [e.delta for e in strict_message_events(raw) if e.type == "content_block_delta"]
        assert any(d.type == "input_json_delta" for d in deltas)


def test_count_tokens(gateway: RunningGateway, key: str) -> None:
    counted = client(gateway, key).messages.count_tokens(
        model=MODEL, system="be brief", tools=[WEATHER], messages=[{"role": "user", "content": "hello " * 40}])
    assert 60 < counted.input_tokens < 200


def test_error_classes(gateway: RunningGateway, key: str) -> None:
    ask: Any = [{"role": "user", "content": "hi"}]
    with pytest.raises(anthropic.AuthenticationError) as auth:
        client(gateway, "sk-nobody-" + "x" * 43).messages.create(model=MODEL, max_tokens=10, messages=ask)
    assert auth.value.body == {"type": "error", "error": {"type": "authentication_error",
                                                          "message": "Incorrect or missing API key."}}
    with pytest.raises(anthropic.BadRequestError) as bad:
        client(gateway, key).messages.create(model=MODEL, max_tokens=0, messages=ask)
    assert bad.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    limited = gateway.create_key(models=["other-model"])
    with pytest.raises(anthropic.PermissionDeniedError) as denied:
        client(gateway, limited).messages.create(model=MODEL, max_tokens=10, messages=ask)
    assert denied.value.body["error"]["type"] == "permission_error"  # type: ignore[index]
    with pytest.raises(anthropic.NotFoundError):
        client(gateway, key).messages.create(model="no-such-model", max_tokens=10, messages=ask)
    free = gateway.create_key(tier="free")
    client(gateway, free).messages.create(model=MODEL, max_tokens=10, messages=ask)
    with pytest.raises(anthropic.RateLimitError) as limited_error:
        client(gateway, free).messages.create(model=MODEL, max_tokens=10, messages=ask)
    assert limited_error.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert limited_error.value.response.headers["retry-after"]
    assert json.loads(limited_error.value.response.text)["type"] == "error"
