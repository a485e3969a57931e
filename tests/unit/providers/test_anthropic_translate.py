"""OpenAI chat <-> Anthropic Messages translation, without a network."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from providers.anthropic_answers import StreamTranslator, chat_completion, finish_reason, usage_from_anthropic
from providers.anthropic_translate import DEFAULT_MAX_TOKENS, to_messages
from providers.base import ErrorKind, ProviderError, Usage

WEATHER: Any = {"type": "function", "function": {"name": "get_weather", "description": "Weather now", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def translate(**body: Any) -> dict[str, Any]:
    return to_messages({"model": "claude", **body}, "claude-sonnet-4-5")


def rejected(**body: Any) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        translate(**body)
    error = caught.value
    assert error.kind is ErrorKind.BAD_REQUEST and error.status == 400 and not error.retryable
    assert error.body is not None and error.body["error"]["message"] == error.message
    return error


def test_plain_request_with_system_and_parameters() -> None:
    out = translate(messages=[{"role": "system", "content": "be brief"},
                              {"role": "developer", "content": [{"type": "text", "text": "and kind"}]},
                              {"role": "user", "content": "hello"}],
                    max_tokens=100, temperature=0.3, top_p=0.9, stop="END", user="u-1", stream=True)
    assert out == {"model": "claude-sonnet-4-5", "max_tokens": 100,
                   "system": [{"type": "text", "text": "be brief"}, {"type": "text", "text": "and kind"}],
                   "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
                   "temperature": 0.3, "top_p": 0.9, "stop_sequences": ["END"]}


def test_max_tokens_default_and_max_completion_tokens() -> None:
    assert translate(messages=[{"role": "user", "content": "x"}])["max_tokens"] == DEFAULT_MAX_TOKENS
    assert to_messages({"messages": [{"role": "user", "content": "x"}]}, "m", default_max_tokens=77)["max_tokens"] == 77
    assert translate(messages=[{"role": "user", "content": "x"}], max_tokens=5,
                     max_completion_tokens=9)["max_tokens"] == 9


def test_stream_flag_is_set_by_the_caller() -> None:
    body = {"messages": [{"role": "user", "content": "x"}], "stream": True}
    assert to_messages(body, "m", stream=True)["stream"] is True
    assert "stream" not in to_messages(body, "m")


def test_images_as_data_urls_and_links() -> None:
    out = translate(messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/jpg;base64,QUJD"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "high"}}]}])
    assert out["messages"][0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "QUJD"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}]


def test_tool_round_trip_history() -> None:
    out = translate(tools=[WEATHER], tool_choice="required", parallel_tool_calls=False, messages=[
        {"role": "user", "content": "Weather in Paris and Oslo?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "toolu_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": [{"type": "text", "text": "4C"}]},
        {"role": "user", "content": "thanks"}])
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "user"]
    assert out["messages"][1]["content"] == [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Oslo"}}]
    assert out["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "18C"}]},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "4C"}]},
        {"type": "text", "text": "thanks"}]
    assert out["tools"] == [{"name": "get_weather", "description": "Weather now",
                             "input_schema": WEATHER["function"]["parameters"]}]
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


@pytest.mark.parametrize(("choice", "expected"), [
    (None, None), ("auto", {"type": "auto"}), ("none", {"type": "none"}),
    ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
])
def test_tool_choice(choice: Any, expected: Any) -> None:
    out = translate(messages=[{"role": "user", "content": "x"}], tools=[WEATHER], tool_choice=choice)
    assert out.get("tool_choice") == expected


def test_blank_text_is_dropped_and_empty_turns_skipped() -> None:
    out = translate(messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "  "},
                              {"role": "user", "content": "again"}])
    assert out["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"},
                                                            {"type": "text", "text": "again"}]}]


@pytest.mark.parametrize(("body", "param"), [
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "system", "content": "only system"}]}, "messages"),
    ({"messages": [{"role": "user", "content": "x"}], "n": 2, "logprobs": True}, "logprobs"),
    ({"messages": [{"role": "user", "content": "x"}], "temperature": 1.5}, "temperature"),
    ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens"),
    ({"messages": [{"role": "user", "content": "x"}], "stop": [""]}, "stop"),
    ({"messages": [{"role": "user", "content": "x"}], "tool_choice": "auto"}, "tool_choice"),
    ({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "web_search"}]}, "tools[0]"),
    ({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}},
     "response_format"),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/bmp;base64,x"}}]}]},
     "messages[0].content"),
    ({"messages": [{"role": "tool", "content": "18C"}]}, "messages[0].tool_call_id"),
    ({"messages": [{"role": "assistant", "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]},
     "messages[0].tool_calls[0]"),
    ({"messages": [{"role": "narrator", "content": "x"}]}, "messages[0].role"),
])
def test_what_anthropic_cannot_honour_is_a_400_naming_it(body: dict[str, Any], param: str) -> None:
    error = rejected(**body)
    assert error.body is not None and error.body["error"]["param"] == param


def test_neutral_values_of_unsupported_parameters_pass() -> None:
    out = translate(messages=[{"role": "user", "content": "x"}], n=1, presence_penalty=0, logprobs=False,
                    response_format={"type": "text"}, store=False)
    assert set(out) == {"model", "max_tokens", "messages"}


@pytest.mark.parametrize(("stop", "finish"), [("end_turn", "stop"), ("stop_sequence", "stop"),
                                              ("max_tokens", "length"), ("tool_use", "tool_calls"),
                                              ("refusal", "content_filter"), ("something_new", "stop")])
def test_finish_reasons(stop: str, finish: str) -> None:
    assert finish_reason(stop) == finish


def test_usage_counts_cache_reads_and_writes_as_prompt_tokens() -> None:
    usage = usage_from_anthropic({"input_tokens": 10, "cache_read_input_tokens": 100,
                                  "cache_creation_input_tokens": 5, "output_tokens": 7})
    assert usage == Usage(prompt_tokens=115, completion_tokens=7, cached_tokens=100)


def test_completion_with_text_and_tool_use() -> None:
    body, usage = chat_completion({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}],
        "stop_reason": "tool_use", "usage": {"input_tokens": 20, "output_tokens": 9}}, "claude-sonnet-4-5", created=1)
    assert body == {
        "id": "chatcmpl-msg_01", "object": "chat.completion", "created": 1, "model": "claude-sonnet-4-5",
        "choices": [{"index": 0, "logprobs": None, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Let me check.", "refusal": None, "tool_calls": [
                {"id": "toolu_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]}}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}}
    assert usage == Usage(20, 9)


def test_completion_with_only_tool_use_has_null_content() -> None:
    body, _ = chat_completion({"content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
                               "stop_reason": "tool_use"}, "m")
    assert body["choices"][0]["message"]["content"] is None


def stream_events(*, tools: bool) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {"id": "msg_9", "type": "message", "role": "assistant", "content": [],
                                              "usage": {"input_tokens": 25, "cache_read_input_tokens": 5,
                                                        "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " there"}},
        {"type": "content_block_stop", "index": 0},
    ]
    if tools:
        events += [
            {"type": "content_block_start", "index": 1,
             "content_block": {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}}},
            {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}},
            {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"ci'}},
            {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": 'ty":"P"}'}},
            {"type": "content_block_stop", "index": 1},
        ]
    events += [{"type": "message_delta", "delta": {"stop_reason": "tool_use" if tools else "end_turn",
                                                   "stop_sequence": None}, "usage": {"output_tokens": 12}},
               {"type": "message_stop"}]
    return events


def test_stream_of_text() -> None:
    translator = StreamTranslator("claude-sonnet-4-5", created=1)
    chunks = [c for e in stream_events(tools=False) for c in translator.on_event(e)]
    assert translator.stopped
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas == [{"role": "assistant", "content": ""}, {"content": "Hello"}, {"content": " there"}, {}]
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "stop"
    assert {c["id"] for c in chunks} == {"chatcmpl-msg_9"}
    last = translator.finish()
    assert last["choices"] == [] and last["usage"] == {
        "prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42, "prompt_tokens_details": {"cached_tokens": 5}}
    assert orjson.loads(orjson.dumps(last)) == last


def test_stream_of_a_tool_call() -> None:
    translator = StreamTranslator("m")
    chunks = [c for e in stream_events(tools=True) for c in translator.on_event(e)]
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if "tool_calls" in c["choices"][0]["delta"]]
    assert calls[0] == {"index": 0, "id": "toolu_a", "type": "function",
                        "function": {"name": "get_weather", "arguments": ""}}
    assert "".join(c["function"]["arguments"] for c in calls[1:]) == '{"city":"P"}'
    assert all(c["index"] == 0 for c in calls)
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_unknown_events_and_deltas_yield_nothing() -> None:
    translator = StreamTranslator("m")
    assert translator.on_event({"type": "brand_new_event"}) == []
    assert translator.on_event({"type": "content_block_delta", "index": 0,
                                "delta": {"type": "thinking_delta", "thinking": "hmm"}}) == []
    assert translator.on_event({"type": "content_block_start", "index": 0,
                                "content_block": {"type": "thinking", "thinking": ""}}) == []
    assert not translator.stopped
