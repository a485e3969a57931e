"""Anthropic Messages <-> chat: request translation, rendering, stream events and the error
shape, without a network; outputs validated by the Anthropic SDK's types in strict mode."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from gateway.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    NoProviderAvailable,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from gateway.translate import messages as tr
from providers.base import ChatChunk, Usage

EVENT: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)


def test_request_translation() -> None:
    chat = tr.to_chat({
        "model": "m", "max_tokens": 50, "system": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        "temperature": 0.1, "top_p": 0.9, "top_k": 4, "stop_sequences": ["END"], "metadata": {"user_id": "u"},
        "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True}, "stream": True,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "see"},
                                         {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                      "data": "AAA"}}]},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "s"},
                                              {"type": "text", "text": "calling"},
                                              {"type": "tool_use", "id": "t1", "name": "f", "input": {"q": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                          "content": [{"type": "text", "text": "42"}]},
                                         {"type": "tool_result", "tool_use_id": "t2", "content": "bad",
                                          "is_error": True},
                                         {"type": "text", "text": "thanks"}]}]})
    assert chat == {
        "model": "m", "max_tokens": 50, "temperature": 0.1, "top_p": 0.9, "stop": ["END"], "user": "u",
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"},
                                                    "description": "d"}}],
        "tool_choice": "required", "parallel_tool_calls": False,
        "stream": True, "stream_options": {"include_usage": True},
        "messages": [
            {"role": "system", "content": "a\n\nb"},
            {"role": "user", "content": [{"type": "text", "text": "see"},
                                         {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}}]},
            {"role": "assistant", "content": "calling", "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"q": 1}'}}]},
            {"role": "tool", "tool_call_id": "t1", "content": "42"},
            {"role": "tool", "tool_call_id": "t2", "content": "Error: bad"},
            {"role": "user", "content": "thanks"}]}


@pytest.mark.parametrize("body, param", [
    ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    ({"model": "m", "max_tokens": 1, "messages": []}, "messages"),
    ({"model": "m", "max_tokens": 1, "messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
    ({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "document"}]}]},
     "messages.0.content.0.type"),
    ({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}],
      "tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools.0.type"),
    ({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}], "tool_choice": {"type": "x"}},
     "tool_choice"),
])
def test_bad_requests_name_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as error:
        tr.to_chat(body)
    assert error.value.param == param


def test_render() -> None:
    body = tr.render({"choices": [{"message": {"role": "assistant", "content": "hi", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]},
        "finish_reason": "tool_calls"}]}, Usage(10, 3, 4), "m")
    message = Message.model_validate(body, strict=True)
    assert message.stop_reason == "tool_use" and message.model == "m"
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[1].input == {"a": 1}  # type: ignore[union-attr]
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens, message.usage.output_tokens) == (6, 4, 3)
    assert tr.render({"choices": [{"message": {"content": "x"}, "finish_reason": "length"}]}, Usage(), "m")[
        "stop_reason"] == "max_tokens"


def parse(raw: bytes) -> list[dict[str, Any]]:
    """The events in what a StreamRenderer sent (one or more events per call, concatenated)."""
    out = []
    for event in raw.split(b"\n\n")[:-1]:
        name_line, data_line = event.decode().split("\n")
        data = orjson.loads(data_line.removeprefix("data: "))
        assert name_line == f"event: {data['type']}"
        if data["type"] not in ("ping", "error"):
            EVENT.validate_python(data, strict=True)
        out.append(data)
    return out


def chunk(delta: dict[str, Any], finish: str | None = None) -> ChatChunk:
    return ChatChunk(data={"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


def test_stream_events() -> None:
    machine = tr.MessagesStream("m", 12)
    raw = b""
    for data in (chunk({"role": "assistant", "content": ""}), chunk({"content": "Hi"}),
                 chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{\"a\""}}]}),
                 chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 2}"}}]}),
                 chunk({"tool_calls": [{"index": 1, "id": "c2", "function": {"name": "g", "arguments": "{}"}}]}),
                 chunk({}, "tool_calls"),
                 ChatChunk(data={"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 7}})):
        raw += machine.chunk(data) or b""
    out = parse(raw + machine.end())
    assert [e["type"] for e in out] == [
        "message_start", "ping", "content_block_start", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    assert out[0]["message"]["usage"]["input_tokens"] == 12
    assert [e["index"] for e in out if e["type"] == "content_block_start"] == [0, 1, 2]
    assert out[-2]["delta"]["stop_reason"] == "tool_use"
    assert out[-2]["usage"]["output_tokens"] == 7 and out[-2]["usage"]["input_tokens"] == 9


def test_stream_error_event() -> None:
    machine = tr.MessagesStream("m", 1)
    out = parse((machine.chunk(chunk({"content": "x"})) or b"") + machine.error(UpstreamError("gone")))
    assert out[-1] == {"type": "error", "error": {"type": "api_error", "message": "gone"}}


@pytest.mark.parametrize("error, status, kind", [
    (InvalidRequest("x"), 400, "invalid_request_error"),
    (AuthenticationFailed(), 401, "authentication_error"),
    (PermissionDenied("x"), 403, "permission_error"),
    (NotFound("x"), 404, "not_found_error"),
    (PayloadTooLarge("x"), 413, "request_too_large"),
    (RateLimited("x", limit="rpm", retry_after=1), 429, "rate_limit_error"),
    (UpstreamError("x"), 502, "api_error"),
    (NoProviderAvailable("x"), 529, "overloaded_error"),
    (UpstreamTimeout("x"), 504, "timeout_error"),
])
def test_error_shape(error: GatewayError, status: int, kind: str) -> None:
    assert tr.error_status(error) == status
    assert tr.error_body(error) == {"type": "error", "error": {"type": kind, "message": "x" if kind != "authentication_error"
                                                               else "Incorrect or missing API key."}}
