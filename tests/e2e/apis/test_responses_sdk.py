"""The official OpenAI SDK's Responses API against the gateway, for each upstream kind
(OpenAI-compatible, vLLM-shaped, Bedrock): plain, streamed, a function-tool round trip,
previous_response_id, stored responses; every body and event validated strictly."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.e2e.apis.conftest import MODEL, Upstream
from tests.e2e.apis.schemas import strict_response, strict_response_events
from tests.fakes.bedrock_server import Reply
from tests.support.gateway import RunningGateway

WEATHER: Any = {"type": "function", "name": "get_weather", "description": "Weather now",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def client(gateway: RunningGateway, key: str) -> OpenAI:
    return OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)


def expect_tool_calls(upstream: Upstream) -> None:
    """The next answer is two get_weather calls, whatever the upstream."""
    if upstream.bedrock is not None:
        upstream.bedrock.replies.append(Reply(tool_uses=[("call_1", "get_weather", {"city": "Paris"}),
                                                         ("call_2", "get_weather", {"city": "Oslo"})]))


def test_plain(gateway: RunningGateway, key: str, upstream: Upstream) -> None:
    raw = client(gateway, key).responses.with_raw_response.create(
        model=MODEL, instructions="be brief", input="hello there", max_output_tokens=50, temperature=0.2)
    response = strict_response(raw.http_response.json())
    assert response.status == "completed" and response.model == MODEL
    assert response.output_text.endswith("hello there")
    assert response.usage is not None and response.usage.input_tokens > 0
    assert response.instructions == "be brief" and response.id.startswith("resp_")
    sent = upstream.texts()
    assert "be brief" in sent and "hello there" in sent


def test_stream(gateway: RunningGateway, key: str) -> None:
    sdk = client(gateway, key)
    with sdk.responses.stream(model=MODEL, input="one two three") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text and final.output_text.endswith("one two three")
    assert final.status == "completed" and final.usage is not None

    raw = httpx.post(gateway.url + "/v1/responses", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                     json={"model": MODEL, "input": "four five", "stream": True})
    events = strict_response_events(raw)
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    for expected in ("response.output_item.added", "response.content_part.added", "response.output_text.delta",
                     "response.output_text.done", "response.output_item.done"):
        assert expected in types
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_function_tool_round_trip(gateway: RunningGateway, key: str, upstream: Upstream) -> None:
    sdk = client(gateway, key)
    expect_tool_calls(upstream)
    raw = sdk.responses.with_raw_response.create(model=MODEL, input="weather in Paris and Oslo?", tools=[WEATHER])
    first = strict_response(raw.http_response.json())
    calls = [item for item in first.output if item.type == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("get_weather", {"city": "Paris"}),
                                                                  ("get_weather", {"city": "Oslo"})]
    outputs: list[Any] = [{"type": "function_call_output", "call_id": c.call_id, "output": f"sunny in {i}"}
                          for i, c in enumerate(calls)]
    turns: list[Any] = [{"type": "function_call", "call_id": c.call_id, "name": c.name, "arguments": c.arguments}
                        for c in calls]
    second = sdk.responses.create(model=MODEL, tools=[WEATHER], input=[
        {"role": "user", "content": "weather in Paris and Oslo?"}, *turns, *outputs])
    assert second.output_text == f"tool results: {calls[0].call_id}=sunny in 0; {calls[1].call_id}=sunny in 1"


def test_streamed_function_calls(gateway: RunningGateway, key: str, upstream: Upstream) -> None:
    expect_tool_calls(upstream)
    raw = httpx.post(gateway.url + "/v1/responses", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                     json={"model": MODEL, "input": "weather?", "tools": [WEATHER], "stream": True})
    events = strict_response_events(raw)
    types = [e.type for e in events]
    assert "response.function_call_arguments.delta" in types and "response.function_call_arguments.done" in types
    final = events[-1].response
    assert [json.loads(item.arguments) for item in final.output] == [{"city": "Paris"}, {"city": "Oslo"}]


def test_previous_response_id_continues_the_conversation(gateway: RunningGateway, key: str,
                                                         upstream: Upstream) -> None:
    sdk = client(gateway, key)
    first = sdk.responses.create(model=MODEL, input="my name is Ada", instructions="first instructions")
    second = sdk.responses.create(model=MODEL, input="what is my name?", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    last = upstream.bodies()[-1]
    sent = json.dumps(last)
    assert "my name is Ada" in sent and first.output_text in sent and "what is my name?" in sent
    assert "first instructions" not in sent     # instructions are not carried over

    with sdk.responses.stream(model=MODEL, input="and again?", previous_response_id=second.id) as stream:
        third = stream.get_final_response()
    fourth = sdk.responses.create(model=MODEL, input="still there?", previous_response_id=third.id)
    assert "and again?" in json.dumps(upstream.bodies()[-1]) and fourth.status == "completed"


def test_stored_response_get_delete_and_tenant_isolation(gateway: RunningGateway, key: str) -> None:
    sdk = client(gateway, key)
    created = sdk.responses.create(model=MODEL, input="keep this")
    fetched = sdk.responses.with_raw_response.retrieve(created.id)
    assert strict_response(fetched.http_response.json()).output_text == created.output_text

    other = client(gateway, gateway.create_key())
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.create(model=MODEL, input="continue", previous_response_id=created.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.delete(created.id)

    sdk.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(created.id)
    unstored = sdk.responses.create(model=MODEL, input="forget this", store=False)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(unstored.id)


def test_models_retrieve_and_legacy_completions(gateway: RunningGateway, key: str, upstream: Upstream) -> None:
    sdk = client(gateway, key)
    assert sdk.models.retrieve(MODEL).id == MODEL
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("no-such-model")
    completion = sdk.completions.create(model=MODEL, prompt="say this", max_tokens=20)
    assert completion.object == "text_completion" and completion.choices[0].text.endswith("say this")
    streamed = "".join(c.choices[0].text for c in sdk.completions.create(model=MODEL, prompt="one two", stream=True)
                       if c.choices)
    assert streamed.endswith("one two")
    assert "say this" in upstream.texts()
