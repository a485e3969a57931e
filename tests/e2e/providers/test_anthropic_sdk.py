"""The official OpenAI SDK against the gateway serving Anthropic-backed models, with the fake
Messages API (headers checked, SSE events) behind it: what an application sees."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import openai
import pytest

from tests.e2e.providers.conftest import sdk_client, usage_rows
from tests.fakes.anthropic_upstream import API_KEY, VERSION, FakeAnthropic, Reply
from tests.support.gateway import RunningGateway

WEATHER: Any = {"type": "function", "function": {"name": "get_weather", "description": "Weather now", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
Fakes = tuple[FakeAnthropic, FakeAnthropic]


def ask(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def test_completion_with_usage_and_cost_recorded(anthropic_gateway: RunningGateway, anthropic_fakes: Fakes) -> None:
    a, _ = anthropic_fakes
    a.cache_read_tokens = 100
    tenant = anthropic_gateway.create_tenant()
    raw = sdk_client(anthropic_gateway, tenant).chat.completions.with_raw_response.create(
        model="claude", messages=[{"role": "system", "content": "be brief"}, *ask("hello there")], temperature=0.3)
    completion = raw.parse()
    assert completion.choices[0].message.content == "echo: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens,
            completion.usage.prompt_tokens_details.cached_tokens) == (111, 3, 100)
    assert raw.headers["x-gateway-provider"] == "anthropic-a"
    seen = a.received[-1]
    assert seen.headers["x-api-key"] == API_KEY and seen.headers["anthropic-version"] == VERSION
    assert "authorization" not in {k.lower() for k in seen.headers}
    assert seen.body == {"model": "claude-sonnet-4-5", "max_tokens": 4096, "temperature": 0.3,
                         "system": [{"type": "text", "text": "be brief"}],
                         "messages": [{"role": "user", "content": [{"type": "text", "text": "hello there"}]}]}
    [record] = usage_rows(anthropic_gateway, tenant, 1)
    assert (record.provider, record.upstream_model, record.prompt_tokens, record.completion_tokens,
            record.cached_tokens, record.status) == ("anthropic-a", "claude-sonnet-4-5", 111, 3, 100, "ok")
    assert Decimal(record.cost_usd) == (Decimal(11) * 3 + Decimal(100) * Decimal("0.3") + Decimal(3) * 15) / 1_000_000


def test_stream_with_usage(anthropic_gateway: RunningGateway, anthropic_fakes: Fakes) -> None:
    a, _ = anthropic_fakes
    tenant = anthropic_gateway.create_tenant()
    chunks = list(sdk_client(anthropic_gateway, tenant).chat.completions.create(
        model="claude", messages=ask("one two three"), stream=True, stream_options={"include_usage": True},
        max_tokens=50))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: one two three"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (11, 4)
    assert a.received[-1].body["stream"] is True and a.received[-1].body["max_tokens"] == 50
    [record] = usage_rows(anthropic_gateway, tenant, 1)
    assert (record.stream, record.prompt_tokens, record.completion_tokens) == (True, 11, 4)
    assert Decimal(record.cost_usd) == (Decimal(11) * 3 + Decimal(4) * 15) / 1_000_000


def test_stream_without_include_usage_gets_no_usage_chunk(anthropic_gateway: RunningGateway) -> None:
    chunks = list(sdk_client(anthropic_gateway).chat.completions.create(model="claude", messages=ask("a b"),
                                                                         stream=True))
    assert chunks and all(c.choices and c.usage is None for c in chunks)


@pytest.mark.parametrize("streamed", [False, True])
def test_tool_call_round_trip(anthropic_gateway: RunningGateway, anthropic_fakes: Fakes, streamed: bool) -> None:
    a, _ = anthropic_fakes
    a.then(Reply(text="Let me check both.", tool_uses=[("toolu_paris01", "get_weather", {"city": "Paris"}),
                                                       ("toolu_oslo02", "get_weather", {"city": "Oslo"})]))
    client = sdk_client(anthropic_gateway)
    messages = ask("Weather in Paris and Oslo?")
    if streamed:
        calls: dict[int, dict[str, str]] = {}
        finish = None
        for chunk in client.chat.completions.create(model="claude", messages=messages, tools=[WEATHER], stream=True):
            for delta in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
                call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = delta.id or call["id"]
                call["name"] = (delta.function.name if delta.function else None) or call["name"]
                call["arguments"] += (delta.function.arguments if delta.function else None) or ""
            finish = (chunk.choices[0].finish_reason if chunk.choices else None) or finish
        tool_calls: list[dict[str, Any]] = [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for _, c in sorted(calls.items())]
    else:
        completion = client.chat.completions.create(model="claude", messages=messages, tools=[WEATHER],
                                                    tool_choice="auto")
        finish = completion.choices[0].finish_reason
        assert completion.choices[0].message.content == "Let me check both."
        assert completion.choices[0].message.tool_calls is not None
        tool_calls = [c.model_dump(include={"id", "type", "function"}) for c in completion.choices[0].message.tool_calls]
    assert finish == "tool_calls"
    assert [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in tool_calls] == [
        ("toolu_paris01", "get_weather", {"city": "Paris"}), ("toolu_oslo02", "get_weather", {"city": "Oslo"})]

    messages += [{"role": "assistant", "content": "Let me check both.", "tool_calls": tool_calls},
                 {"role": "tool", "tool_call_id": "toolu_paris01", "content": "18C, sunny"},
                 {"role": "tool", "tool_call_id": "toolu_oslo02", "content": "4C, rain"}]
    answer = client.chat.completions.create(model="claude", messages=messages, tools=[WEATHER])
    assert answer.choices[0].message.content == "tool results: toolu_paris01=18C, sunny; toolu_oslo02=4C, rain"
    sent = a.received[-1].body
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert [b["type"] for b in sent["messages"][1]["content"]] == ["text", "tool_use", "tool_use"]
    assert [b["type"] for b in sent["messages"][2]["content"]] == ["tool_result", "tool_result"]
    assert sent["tools"][0]["name"] == "get_weather" and "tool_choice" not in sent


def test_invalid_request_stays_the_clients_400_in_openai_shape(anthropic_gateway: RunningGateway,
                                                                 anthropic_fakes: Fakes) -> None:
    a, b = anthropic_fakes
    a.then(Reply(status=400, message="messages.0.content: image too large"))
    with pytest.raises(openai.BadRequestError) as caught:
        sdk_client(anthropic_gateway).chat.completions.create(model="claude-two", messages=ask("x"))
    assert caught.value.body == {"message": "messages.0.content: image too large", "type": "invalid_request_error",
                                 "param": None, "code": "invalid_request_error"}
    assert len(a.received) == 1 and b.received == []   # the client's fault: no failover


def test_unsupported_parameter_is_a_400_before_any_call(anthropic_gateway: RunningGateway,
                                                        anthropic_fakes: Fakes) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk_client(anthropic_gateway).chat.completions.create(model="claude", messages=ask("x"), n=2, logprobs=True)
    assert "logprobs, n" in caught.value.message and caught.value.param == "logprobs"
    assert anthropic_fakes[0].received == []


@pytest.mark.parametrize("reply", [Reply(status=429, retry_after="30"), Reply(status=529), Reply(status=500)],
                         ids=["429", "529", "500"])
def test_retryable_errors_fail_over_to_the_second_deployment(anthropic_gateway: RunningGateway,
                                                             anthropic_fakes: Fakes, reply: Reply) -> None:
    a, b = anthropic_fakes
    a.then(reply)
    raw = sdk_client(anthropic_gateway).chat.completions.with_raw_response.create(model="claude-two",
                                                                                  messages=ask("hi there"))
    assert raw.parse().choices[0].message.content == "echo: hi there"
    assert raw.headers["x-gateway-provider"] == "anthropic-b"
    assert len(a.received) == 1 and len(b.received) == 1
    assert b.received[0].body["max_tokens"] == 1024     # anthropic-b's own default


@pytest.mark.parametrize("error_after", [0, 2], ids=["first-event", "after-message-start"])
def test_overloaded_event_before_the_first_content_fails_over(anthropic_gateway: RunningGateway,
                                                              anthropic_fakes: Fakes, error_after: int) -> None:
    a, b = anthropic_fakes
    a.then(Reply(error_after=error_after))
    chunks = list(sdk_client(anthropic_gateway).chat.completions.create(model="claude-two", messages=ask("a b"),
                                                                         stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: a b"
    assert len(b.received) == 1


@pytest.mark.parametrize("reply", [Reply(error_after=4), Reply(cut_after=4), Reply(stall_after=4)],
                         ids=["error-event", "cut", "stall"])
def test_mid_stream_failure_ends_the_stream_with_an_error(anthropic_gateway: RunningGateway,
                                                          anthropic_fakes: Fakes, reply: Reply) -> None:
    a, b = anthropic_fakes
    a.then(reply)
    text = ""
    with pytest.raises(openai.APIError):
        for chunk in sdk_client(anthropic_gateway).chat.completions.create(
                model="claude-two", messages=ask("one two three"), stream=True):
            text += chunk.choices[0].delta.content or "" if chunk.choices else ""
    assert text == "echo:"       # what arrived before the failure; no failover after the first byte
    assert b.received == []


@pytest.mark.parametrize(("reply", "retry_after"), [(Reply(status=429, retry_after="7"), "7"),
                                                    (Reply(status=529, retry_after="12"), "12")], ids=["429", "529"])
def test_one_deployment_rate_limited_or_overloaded_is_a_503_with_retry_after(
        anthropic_gateway: RunningGateway, anthropic_fakes: Fakes, reply: Reply, retry_after: str) -> None:
    anthropic_fakes[0].then(reply)
    with pytest.raises(openai.APIStatusError) as caught:
        sdk_client(anthropic_gateway).chat.completions.create(model="claude", messages=ask("x"))
    assert caught.value.status_code == 503
    assert caught.value.response.headers["retry-after"] == retry_after
    assert "anthropic-a" in caught.value.message


def test_rejected_api_key_is_a_502_naming_the_provider_not_the_key(anthropic_gateway: RunningGateway,
                                                                  anthropic_fakes: Fakes) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        sdk_client(anthropic_gateway).chat.completions.create(model="claude-wrong-key", messages=ask("x"))
    assert caught.value.status_code == 502
    assert "anthropic-wrong-key" in caught.value.message and "authentication_error" in caught.value.message
    assert "sk-ant-wrong" not in caught.value.response.text
    assert anthropic_fakes[0].received == []     # the fake refused it before recording


def test_unknown_model_is_a_502_pointing_at_the_catalog(anthropic_gateway: RunningGateway,
                                                        anthropic_fakes: Fakes) -> None:
    anthropic_fakes[0].then(Reply(status=404, message="model: claude-sonnet-4-5"))
    with pytest.raises(openai.InternalServerError) as caught:
        sdk_client(anthropic_gateway).chat.completions.create(model="claude", messages=ask("x"))
    assert caught.value.status_code == 502 and "upstream model id" in caught.value.message
