"""OpenAI request -> Converse request: what each OpenAI construct becomes, and what is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from providers.base import ErrorKind, ProviderError
from providers.bedrock.translate import to_converse

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def refused(body: dict[str, Any]) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        to_converse(body)
    error = caught.value
    assert error.kind is ErrorKind.BAD_REQUEST and error.status == 400 and not error.retryable
    assert error.body is not None and set(error.body["error"]) == {"message", "type", "param", "code"}
    assert error.body["error"]["type"] == "invalid_request_error"
    return error


def test_system_and_developer_messages_become_system_blocks() -> None:
    body = to_converse({"messages": [{"role": "system", "content": "be brief"},
                                     {"role": "developer", "content": [{"type": "text", "text": "no jokes"}]},
                                     user("hi")]})
    assert body == {"system": [{"text": "be brief"}, {"text": "no jokes"}],
                    "messages": [{"role": "user", "content": [{"text": "hi"}]}]}


def test_text_parts_and_images() -> None:
    body = to_converse({"messages": [user([
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": f"data:image/jpg;base64,{PNG}"}},
    ])]})
    assert body["messages"][0]["content"] == [
        {"text": "what is this?"},
        {"image": {"format": "png", "source": {"bytes": PNG}}},
        {"image": {"format": "jpeg", "source": {"bytes": PNG}}},
    ]


def test_parallel_tool_calls_and_results_round_trip() -> None:
    body = to_converse({
        "messages": [
            user("weather in Paris and Rome?"),
            {"role": "assistant", "content": None, "tool_calls": [
                call("call_1", "weather", '{"city": "Paris"}'), call("call_2", "weather", '{"city": "Rome"}')]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "24C"}]},
            user("and tomorrow?"),
        ],
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
    })
    assert body["messages"] == [
        {"role": "user", "content": [{"text": "weather in Paris and Rome?"}]},
        {"role": "assistant", "content": [
            {"toolUse": {"toolUseId": "call_1", "name": "weather", "input": {"city": "Paris"}}},
            {"toolUse": {"toolUseId": "call_2", "name": "weather", "input": {"city": "Rome"}}}]},
        # both results and the next user turn merged: Converse roles must alternate
        {"role": "user", "content": [
            {"toolResult": {"toolUseId": "call_1", "content": [{"text": "18C"}]}},
            {"toolResult": {"toolUseId": "call_2", "content": [{"text": "24C"}]}},
            {"text": "and tomorrow?"}]},
    ]
    assert body["toolConfig"] == {"tools": [{"toolSpec": {"name": "weather",
                                                          "inputSchema": {"json": {"type": "object"}}}}]}


def test_consecutive_same_role_turns_merge_and_blank_text_is_dropped() -> None:
    body = to_converse({"messages": [user("a"), user("b"), user("   "),
                                     {"role": "assistant", "content": "c"}, {"role": "assistant", "content": ""},
                                     {"role": "assistant", "content": [{"type": "text", "text": "d"}]}]})
    assert body["messages"] == [{"role": "user", "content": [{"text": "a"}, {"text": "b"}]},
                                {"role": "assistant", "content": [{"text": "c"}, {"text": "d"}]}]


def test_assistant_text_with_tool_call_and_empty_arguments() -> None:
    body = to_converse({"messages": [user("x"), {"role": "assistant", "content": "let me look",
                                                 "tool_calls": [call("c1", "now", "")]}],
                        "tools": [{"type": "function", "function": {"name": "now"}}]})
    assert body["messages"][1]["content"] == [{"text": "let me look"},
                                              {"toolUse": {"toolUseId": "c1", "name": "now", "input": {}}}]
    assert body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"] == {
        "json": {"type": "object", "properties": {}}}


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", {"auto": {}}),
    ("required", {"any": {}}),
    ({"type": "function", "function": {"name": "weather"}}, {"tool": {"name": "weather"}}),
])
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    tools = [{"type": "function", "function": {"name": "weather", "description": "Weather now",
                                               "parameters": {"type": "object"}, "strict": True}}]
    body = to_converse({"messages": [user("x")], "tools": tools, "tool_choice": choice})
    assert body["toolConfig"]["toolChoice"] == expected
    assert body["toolConfig"]["tools"][0]["toolSpec"]["description"] == "Weather now"
    assert body["toolConfig"]["tools"][0]["toolSpec"]["strict"] is True


def test_tool_choice_none_without_tool_history_sends_no_tools() -> None:
    tools = [{"type": "function", "function": {"name": "weather"}}]
    assert "toolConfig" not in to_converse({"messages": [user("x")], "tools": tools, "tool_choice": "none"})


def test_tool_choice_none_with_tool_history_cannot_be_honoured() -> None:
    messages = [user("x"), {"role": "assistant", "tool_calls": [call("c1", "weather", "{}")]},
                {"role": "tool", "tool_call_id": "c1", "content": "sun"}]
    error = refused({"messages": messages, "tools": [{"type": "function", "function": {"name": "weather"}}],
                     "tool_choice": "none"})
    assert error.body is not None and error.body["error"]["param"] == "tool_choice"


def test_inference_parameters() -> None:
    body = to_converse({"messages": [user("x")], "max_tokens": 50, "max_completion_tokens": 70,
                        "temperature": 0.2, "top_p": 1, "stop": "END"})
    assert body["inferenceConfig"] == {"maxTokens": 70, "temperature": 0.2, "topP": 1.0, "stopSequences": ["END"]}
    body = to_converse({"messages": [user("x")], "max_tokens": 5, "stop": ["a", "b"]})
    assert body["inferenceConfig"] == {"maxTokens": 5, "stopSequences": ["a", "b"]}


def test_json_schema_response_format() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    body = to_converse({"messages": [user("x")], "response_format": {
        "type": "json_schema", "json_schema": {"name": "count", "schema": schema, "strict": True}}})
    definition = body["outputConfig"]["textFormat"]["structure"]["jsonSchema"]
    assert body["outputConfig"]["textFormat"]["type"] == "json_schema"
    assert definition["name"] == "count"
    assert json.loads(definition["schema"]) == schema
    assert "outputConfig" not in to_converse({"messages": [user("x")], "response_format": {"type": "text"}})


def test_neutral_values_and_bookkeeping_fields_are_accepted() -> None:
    body = to_converse({"model": "m", "messages": [user("x")], "n": 1, "presence_penalty": 0,
                        "frequency_penalty": 0.0, "logprobs": False, "parallel_tool_calls": True,
                        "user": "u-1", "metadata": {"k": "v"}, "store": False, "seed": None,
                        "stream": True, "stream_options": {"include_usage": True}})
    assert body == {"messages": [{"role": "user", "content": [{"text": "x"}]}]}


@pytest.mark.parametrize(("extra", "named"), [
    ({"n": 2}, "n"),
    ({"presence_penalty": 0.5}, "presence_penalty"),
    ({"frequency_penalty": 1}, "frequency_penalty"),
    ({"logprobs": True, "top_logprobs": 3}, "logprobs, top_logprobs"),
    ({"logit_bias": {"50256": -100}}, "logit_bias"),
    ({"seed": 7}, "seed"),
    ({"audio": {"voice": "alloy"}, "modalities": ["audio"]}, "audio, modalities"),
    ({"parallel_tool_calls": False}, "parallel_tool_calls"),
    ({"n": True}, "n"),
])
def test_unsupported_parameters_are_named(extra: dict[str, Any], named: str) -> None:
    error = refused({"messages": [user("x")], **extra})
    assert named in error.message
    assert error.body is not None and named in error.body["error"]["message"]


@pytest.mark.parametrize("body", [
    {"messages": []},
    {"messages": [user("   ")]},
    {"messages": [user("x")], "temperature": 1.5},
    {"messages": [user("x")], "top_p": -0.1},
    {"messages": [user("x")], "max_tokens": 0},
    {"messages": [user("x")], "max_completion_tokens": "many"},
    {"messages": [user("x")], "stop": [""]},
    {"messages": [user("x")], "response_format": {"type": "json_object"}},
    {"messages": [user("x")], "tool_choice": "auto"},
    {"messages": [user("x")], "tools": [{"type": "web_search"}]},
    {"messages": [user("x")], "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "any"},
    {"messages": [user([{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}])]},
    {"messages": [user([{"type": "image_url", "image_url": {"url": f"data:image/tiff;base64,{PNG}"}}])]},
    {"messages": [user([{"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}])]},
    {"messages": [user([{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}])]},
    {"messages": [user("x"), {"role": "assistant", "tool_calls": [call("c", "f", "[1, 2]")]}]},
    {"messages": [user("x"), {"role": "assistant", "tool_calls": [call("c", "f", "{not json")]}]},
    {"messages": [user("x"), {"role": "assistant", "tool_calls": [call("c", "f", "{}")]}]},  # no tools
    {"messages": [user("x"), {"role": "tool", "content": "r"}]},
    {"messages": [{"role": "function", "name": "f", "content": "r"}]},
    {"messages": ["hello"]},
])
def test_malformed_or_unservable_requests_are_400(body: dict[str, Any]) -> None:
    refused(body)
