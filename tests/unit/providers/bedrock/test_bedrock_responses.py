"""Converse response and ConverseStream events -> OpenAI chat.completion and chunks."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from providers.base import ChatChunk, Usage
from providers.bedrock.eventstream import EventStreamDecoder
from providers.bedrock.responses import StreamTranslator, chat_completion, finish_reason, usage_from_converse
from tests.fakes.bedrock_server import Reply, converse_response, stream_frames

MODEL = "us.anthropic.claude-sonnet-4-20250514-v1:0"


@pytest.mark.parametrize(("stop", "expected"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"), ("tool_use", "tool_calls"),
    ("guardrail_intervened", "content_filter"), ("content_filtered", "content_filter"),
    ("malformed_tool_use", "stop"), ("something_new", "stop"),
])
def test_finish_reasons(stop: str, expected: str) -> None:
    assert finish_reason(stop) == expected


def test_usage_counts_cache_reads_and_writes_as_prompt_tokens() -> None:
    usage = usage_from_converse({"inputTokens": 10, "outputTokens": 4, "totalTokens": 114,
                                 "cacheReadInputTokens": 60, "cacheWriteInputTokens": 40})
    assert usage == Usage(prompt_tokens=110, completion_tokens=4, cached_tokens=60)
    assert usage.to_openai() == {"prompt_tokens": 110, "completion_tokens": 4, "total_tokens": 114,
                                 "prompt_tokens_details": {"cached_tokens": 60}}
    assert usage_from_converse(None) == Usage()


def test_text_completion() -> None:
    body, usage = chat_completion(converse_response(Reply(text="Hello there.")), MODEL,
                                  completion_id="chatcmpl-1", created=123)
    assert body == {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 123, "model": MODEL,
        "choices": [{"index": 0, "logprobs": None, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Hello there.", "refusal": None}}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13},
    }
    assert usage == Usage(11, 2)


def test_parallel_tool_calls_completion() -> None:
    reply = Reply(text="", tool_uses=[("t1", "weather", {"city": "Paris"}), ("t2", "weather", {"city": "Rome"})])
    body, _ = chat_completion(converse_response(reply), MODEL)
    choice = body["choices"][0]
    assert body["id"].startswith("chatcmpl-") and isinstance(body["created"], int)
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    calls = choice["message"]["tool_calls"]
    assert [(c["id"], c["type"], c["function"]["name"]) for c in calls] == [
        ("t1", "function", "weather"), ("t2", "function", "weather")]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [{"city": "Paris"}, {"city": "Rome"}]


def test_length_stop_and_unknown_blocks() -> None:
    response = {"output": {"message": {"role": "assistant", "content": [
        {"reasoningContent": {"reasoningText": {"text": "hmm"}}}, {"text": "a"}, {"text": "b"}]}},
        "stopReason": "max_tokens", "usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3}}
    body, _ = chat_completion(response, MODEL)
    assert body["choices"][0]["message"]["content"] == "ab"
    assert body["choices"][0]["finish_reason"] == "length"


def _translate_stream(reply: Reply) -> list[dict[str, Any]]:
    translator = StreamTranslator(MODEL, completion_id="chatcmpl-s", created=5)
    chunks = []
    for message in EventStreamDecoder().feed(b"".join(stream_frames(reply))):
        chunks += translator.on_event(message.event_type, orjson.loads(message.payload))
    assert translator.stopped
    return [*chunks, translator.finish()]


def test_stream_text() -> None:
    chunks = _translate_stream(Reply(text="Hello big world"))
    assert all(c["id"] == "chatcmpl-s" and c["object"] == "chat.completion.chunk" and c["model"] == MODEL
               for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "Hello big world"
    assert chunks[-2]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    last = ChatChunk(chunks[-1])
    assert last.is_usage_only and last.usage == Usage(11, 3)


def test_stream_parallel_tool_calls_are_indexed_per_call() -> None:
    reply = Reply(text="Let me check.", tool_uses=[("t1", "weather", {"city": "Paris"}),
                                                   ("t2", "time", {"zone": "CET"})])
    chunks = _translate_stream(reply)
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks[:-1]:
        for delta in chunk["choices"][0]["delta"].get("tool_calls", []):
            call = calls.setdefault(delta["index"], {"arguments": ""})
            if "id" in delta:
                call.update(id=delta["id"], name=delta["function"]["name"], type=delta["type"])
            call["arguments"] += delta["function"]["arguments"]
    assert calls == {0: {"id": "t1", "name": "weather", "type": "function", "arguments": '{"city":"Paris"}'},
                     1: {"id": "t2", "name": "time", "type": "function", "arguments": '{"zone":"CET"}'}}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == []


def test_stream_without_metadata_still_ends_with_a_usage_chunk() -> None:
    translator = StreamTranslator(MODEL)
    translator.on_event("messageStart", {"role": "assistant"})
    translator.on_event("messageStop", {"stopReason": "end_turn"})
    assert translator.finish()["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def test_unknown_stream_events_yield_nothing() -> None:
    translator = StreamTranslator(MODEL)
    assert translator.on_event("contentBlockStop", {"contentBlockIndex": 0}) == []
    assert translator.on_event("somethingNew", {"x": 1}) == []
    assert translator.on_event("contentBlockDelta", {"contentBlockIndex": 0,
                                                     "delta": {"reasoningContent": {"text": "x"}}}) == []
