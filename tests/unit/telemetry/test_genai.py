"""GenAI attribute values read from requests and responses: numbers, ids and names only,
and message text only from the content functions."""

from __future__ import annotations

import json

from gateway.telemetry import genai
from providers import provider_class
from providers.base import ChatRequest, Usage


def test_provider_names_follow_the_conventions() -> None:
    assert provider_class("bedrock").genai_system == "aws.bedrock"
    assert provider_class("openai").genai_system == "openai"
    assert provider_class("vllm").genai_system == "vllm"
    assert provider_class("mock").genai_system == "mock"


def test_request_attributes_are_the_sampling_numbers() -> None:
    request = ChatRequest({"model": "m", "messages": [{"role": "user", "content": "secret words"}],
                           "max_completion_tokens": 64, "temperature": 1, "top_p": 0.5, "seed": 7, "n": 2,
                           "presence_penalty": True})
    attributes = genai.request_attributes(request)
    assert attributes == {"gen_ai.request.max_tokens": 64, "gen_ai.request.temperature": 1.0,
                          "gen_ai.request.top_p": 0.5, "gen_ai.request.seed": 7, "gen_ai.request.choice.count": 2}
    assert isinstance(attributes["gen_ai.request.temperature"], float)
    assert "secret words" not in repr(attributes)


def test_absent_settings_are_absent_attributes() -> None:
    assert genai.request_attributes(ChatRequest({"model": "m", "messages": [], "n": 1})) == {}


def test_usage_attributes() -> None:
    assert genai.usage_attributes(Usage(prompt_tokens=3, completion_tokens=5)) == {
        "gen_ai.usage.input_tokens": 3, "gen_ai.usage.output_tokens": 5}
    assert genai.usage_attributes(None) == {}


def test_response_facts_from_a_body_and_from_chunks() -> None:
    body = {"id": "chatcmpl-1", "model": "gpt-x", "choices": [
        {"message": {"content": "private answer"}, "finish_reason": "stop"},
        {"message": {"content": "other"}, "finish_reason": "length"}]}
    assert genai.ResponseFacts.of(body).attributes() == {
        "gen_ai.response.id": "chatcmpl-1", "gen_ai.response.model": "gpt-x",
        "gen_ai.response.finish_reasons": ["stop", "length"]}
    facts = genai.ResponseFacts()
    for chunk in ({"id": "c-2", "model": "gpt-y", "choices": [{"delta": {"content": "a"}, "finish_reason": None}]},
                  {"id": "c-2", "model": "gpt-y", "choices": [{"delta": {}, "finish_reason": "tool_calls"}]},
                  {"id": "c-2", "choices": [], "usage": {"prompt_tokens": 1}}):
        facts.add(chunk)
    assert facts.attributes() == {"gen_ai.response.id": "c-2", "gen_ai.response.model": "gpt-y",
                                  "gen_ai.response.finish_reasons": ["tool_calls"]}
    assert genai.ResponseFacts.of(None).attributes() == {}


def test_content_in_the_conventions_message_shape() -> None:
    messages = [{"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url"}]},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_1", "function": {"name": "lookup", "arguments": "{}"}}]}]
    assert json.loads(genai.input_messages(messages)) == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "lookup", "arguments": "{}"}]},
    ]
    body = {"choices": [{"message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}]}
    assert json.loads(genai.output_messages(body) or "") == [
        {"role": "assistant", "parts": [{"type": "text", "content": "hello"}], "finish_reason": "stop"}]
    assert genai.output_messages(None) is None
