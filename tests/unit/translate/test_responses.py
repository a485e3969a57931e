"""Responses API <-> chat: the request translation, the rendering, and the stream state
machine, without a network; outputs validated by the OpenAI SDK's models in strict mode."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from openai.types.responses import (
    Response,
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseStreamEvent,
)
from pydantic import TypeAdapter

from gateway.errors import InvalidRequest, UpstreamError
from gateway.translate import responses as tr
from gateway.translate.responses_stream import PassThroughEvents, ResponsesStream
from providers.base import ChatChunk, Usage

EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}


def events(raw: bytes) -> list[dict[str, Any]]:
    """The events in what a StreamRenderer sent (one or more events per call, concatenated)."""
    out = []
    for event in raw.split(b"\n\n")[:-1]:
        name_line, data_line = event.decode().split("\n")
        data = orjson.loads(data_line.removeprefix("data: "))
        assert name_line == f"event: {data['type']}"
        EVENT.validate_python(data, strict=True)
        out.append(data)
    return out


def test_string_input_and_instructions() -> None:
    chat = tr.to_chat({"model": "m", "input": "hi", "instructions": "be brief", "max_output_tokens": 9,
                       "temperature": 0.5, "top_p": 1, "user": "u1", "metadata": {"feature": "x"}})
    assert chat == {"model": "m", "messages": [{"role": "system", "content": "be brief"},
                                               {"role": "user", "content": "hi"}],
                    "max_tokens": 9, "temperature": 0.5, "top_p": 1, "user": "u1"}


def test_items_become_messages_and_function_calls_join_one_assistant_turn() -> None:
    chat = tr.to_chat({"model": "m", "input": [
        {"role": "developer", "content": "rules"},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "look"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAA", "detail": "low"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "checking"}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{\"a\":1}"},
        {"type": "function_call_output", "call_id": "c1", "output": "one"},
        {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "two"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []}]}, history=[{"role": "user", "content": "before"}])
    assert chat["messages"] == [
        {"role": "user", "content": "before"},
        {"role": "developer", "content": "rules"},
        {"role": "user", "content": [{"type": "text", "text": "look"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA",
                                                                         "detail": "low"}}]},
        {"role": "assistant", "content": "checking", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{\"a\":1}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": "two"}]


def test_tools_choice_and_text_format() -> None:
    chat = tr.to_chat({"model": "m", "input": "x", "tools": [TOOL], "parallel_tool_calls": False,
                       "tool_choice": {"type": "function", "name": "get_weather"},
                       "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"},
                                           "strict": True}}, "stream": True})
    assert chat["tools"] == [{"type": "function", "function": {"name": "get_weather",
                                                               "parameters": {"type": "object", "properties": {}}}}]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert chat["parallel_tool_calls"] is False
    assert chat["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "w", "schema": {"type": "object"}, "strict": True}}
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("body, param", [
    ({"input": "x"}, "model"),
    ({"model": "m"}, "input"),
    ({"model": "m", "input": 3}, "input"),
    ({"model": "m", "input": [{"type": "file_search_call"}]}, "input[0].type"),
    ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"model": "m", "input": "x", "temperature": "hot"}, "temperature"),
    ({"model": "m", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
    ({"model": "m", "input": "x", "tool_choice": "sometimes"}, "tool_choice"),
    ({"model": "m", "input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
])
def test_what_cannot_be_translated_is_a_400_naming_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as error:
        tr.to_chat(body)
    assert error.value.param == param


def completion(message: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}]}


def test_render_text_and_function_calls() -> None:
    spec = tr.ResponsesRequest.parse({"model": "m", "input": "x", "tools": [TOOL], "instructions": "i"})
    body = tr.render(completion({"content": "hello", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"c\":1}"}}]},
        "tool_calls"), Usage(10, 5, 2), spec, "resp_1")
    response = Response.model_validate(body, strict=True)
    assert response.output_text == "hello" and response.instructions == "i"
    assert [item.type for item in response.output] == ["message", "function_call"]
    assert response.usage is not None and (response.usage.input_tokens, response.usage.output_tokens,
                                           response.usage.input_tokens_details.cached_tokens) == (10, 5, 2)


def test_render_length_stop_is_incomplete_and_refusal_is_kept() -> None:
    spec = tr.ResponsesRequest.parse({"model": "m", "input": "x"})
    body = tr.render(completion({"content": "cut"}, "length"), Usage(1, 1), spec, "resp_2")
    assert Response.model_validate(body, strict=True).status == "incomplete"
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}
    refused = tr.render(completion({"content": None, "refusal": "no"}), Usage(1, 1), spec, "resp_3")
    item = Response.model_validate(refused, strict=True).output[0]
    assert isinstance(item, ResponseOutputMessage) and item.content[0].type == "refusal"


def test_conversation_keeps_the_turns_without_the_instructions() -> None:
    spec = tr.ResponsesRequest.parse({"model": "m", "input": "x"})
    body = tr.render(completion({"content": "hi", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}), Usage(), spec, "r")
    kept = tr.conversation([{"role": "system", "content": "i"}, {"role": "user", "content": "x"}], body)
    assert kept == [{"role": "user", "content": "x"}, {"role": "assistant", "content": "hi", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]


def chunk(delta: dict[str, Any], finish: str | None = None) -> ChatChunk:
    return ChatChunk(data={"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


def test_stream_text_then_tool_calls() -> None:
    spec = tr.ResponsesRequest.parse({"model": "m", "input": "x", "stream": True})
    machine = ResponsesStream(spec, "resp_s")
    raw = b""
    for data in (chunk({"role": "assistant", "content": ""}), chunk({"content": "Hel"}), chunk({"content": "lo"}),
                 chunk({"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "f", "arguments": ""}}]}),
                 chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"x\""}}]}),
                 chunk({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}),
                 chunk({}, "tool_calls"),
                 ChatChunk(data={"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}})):
        raw += machine.chunk(data) or b""
    raw += machine.end()
    out = events(raw)
    assert [e["type"] for e in out] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.output_item.added",
        "response.function_call_arguments.delta", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    assert [e["sequence_number"] for e in out] == list(range(len(out)))
    final = Response.model_validate(out[-1]["response"], strict=True)
    call = final.output[1]
    assert isinstance(call, ResponseFunctionToolCall)
    assert final.output_text == "Hello" and json.loads(call.arguments) == {"x": 1}
    assert final.usage is not None and final.usage.total_tokens == 7
    assert machine.response == out[-1]["response"]


def test_stream_failure_sends_error_and_response_failed() -> None:
    machine = ResponsesStream(tr.ResponsesRequest.parse({"model": "m", "input": "x"}), "resp_f")
    out = events((machine.chunk(chunk({"content": "par"})) or b"") + machine.error(UpstreamError("upstream went away")))
    assert [e["type"] for e in out][-2:] == ["error", "response.failed"]
    assert out[-1]["response"]["status"] == "failed" and out[-1]["response"]["error"]["message"] == "upstream went away"


def test_empty_stream_still_completes() -> None:
    machine = ResponsesStream(tr.ResponsesRequest.parse({"model": "m", "input": "x"}), "resp_e")
    out = events(machine.end())
    assert [e["type"] for e in out] == ["response.created", "response.in_progress", "response.completed"]


def test_pass_through_events_relay_as_they_came_and_drop_the_usage_chunk() -> None:
    machine = PassThroughEvents()
    snapshot = {"id": "resp_u", "status": "in_progress", "output": []}
    created = machine.chunk(ChatChunk(data={"type": "response.created", "sequence_number": 0, "response": snapshot}))
    delta = machine.chunk(ChatChunk(data={"type": "response.output_text.delta", "sequence_number": 1,
                                          "item_id": "m", "delta": "x"}))
    usage = {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}
    assert machine.chunk(ChatChunk(data=usage)) is None
    assert created is not None and delta is not None
    assert [r.split(b"\n")[0] for r in (created, delta)] == [b"event: response.created",
                                                             b"event: response.output_text.delta"]
    failed = machine.error(UpstreamError("cut"))
    names = [orjson.loads(r.split(b"\n")[1][6:]) for r in failed.split(b"\n\n")[:-1]]
    assert [(n["type"], n["sequence_number"]) for n in names] == [("error", 2), ("response.failed", 3)]
    assert names[1]["response"]["status"] == "failed" and names[1]["response"]["id"] == "resp_u"

    done = PassThroughEvents()
    done.chunk(ChatChunk(data={"type": "response.completed", "sequence_number": 5,
                               "response": {**snapshot, "status": "completed"}}))
    assert done.response is not None and done.end() == b"" and done.error(UpstreamError("late")) == b""
