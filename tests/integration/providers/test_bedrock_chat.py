"""BedrockProvider against the fake Bedrock server over real sockets: signed requests,
Converse JSON, ConverseStream event-stream frames, tool round trips, images, usage."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from providers.base import ChatChunk, ChatRequest, ChatResult, ErrorKind, ProviderConfig, ProviderError
from providers.bedrock import BedrockProvider
from tests.fakes.bedrock_server import ACCESS_KEY, SECRET_KEY, FakeBedrock, Reply

MODEL = "us.anthropic.claude-sonnet-4-20250514-v1:0"
ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


pytestmark = pytest.mark.usefixtures("aws_env")   # fake credentials (tests/integration/providers/conftest.py)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBedrock]:
    async with FakeBedrock.running("us-east-1") as server:
        yield server


async def started(fake: FakeBedrock, region: str = "us-east-1", **options: Any) -> BedrockProvider:
    config = ProviderConfig("bedrock-use1", "bedrock", {"region": region, "endpoint_url": fake.url, **options})
    provider = BedrockProvider.from_config(config)
    await provider.start()
    return provider


@pytest.fixture
async def provider(fake: FakeBedrock) -> AsyncIterator[BedrockProvider]:
    bedrock = await started(fake)
    yield bedrock
    await bedrock.close()


async def complete(provider: BedrockProvider, body: dict[str, Any], model: str = MODEL) -> ChatResult:
    result = await provider.chat(ChatRequest(body), model)
    assert isinstance(result, ChatResult)
    return result


async def stream(provider: BedrockProvider, body: dict[str, Any], model: str = MODEL) -> list[ChatChunk]:
    return [chunk async for chunk in provider.chat_stream(ChatRequest({**body, "stream": True}), model)]


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


async def test_completion(provider: BedrockProvider, fake: FakeBedrock) -> None:
    result = await complete(provider, {"model": "claude", "messages": [
        {"role": "system", "content": "be brief"}, user("hello there")], "max_tokens": 64, "temperature": 0.5})
    assert result.body["object"] == "chat.completion" and result.body["id"].startswith("chatcmpl-")
    assert result.body["model"] == MODEL
    assert result.body["choices"][0]["message"]["content"] == "echo: hello there"
    assert result.body["choices"][0]["finish_reason"] == "stop"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (11, 3)
    seen = fake.received[-1]
    assert seen.operation == "Converse" and seen.model_id == MODEL and seen.access_key == ACCESS_KEY
    assert seen.body["system"] == [{"text": "be brief"}]
    assert seen.body["inferenceConfig"] == {"maxTokens": 64, "temperature": 0.5}
    assert seen.headers["Content-Type"] == "application/json"


async def test_inference_profile_arn_travels_as_one_encoded_segment(provider: BedrockProvider,
                                                                     fake: FakeBedrock) -> None:
    await complete(provider, {"messages": [user("hi")]}, model=ARN)
    await stream(provider, {"messages": [user("hi")]}, model=ARN)
    assert [r.model_id for r in fake.received] == [ARN, ARN]
    assert fake.received[0].raw_path == (
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2F"
        "us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse")
    assert fake.received[1].raw_path.endswith("/converse-stream")


async def test_stream_decoded_from_tiny_writes(provider: BedrockProvider, fake: FakeBedrock) -> None:
    fake.write_size = 3  # every frame split over many TCP writes
    chunks = await stream(provider, {"messages": [user("one two three four")]})
    text = "".join(c.data["choices"][0]["delta"].get("content", "") for c in chunks if c.data["choices"])
    assert text == "echo: one two three four"
    assert chunks[-2].data["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1].is_usage_only and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 5
    assert fake.received[-1].headers["Accept"] == "application/vnd.amazon.eventstream"


def assemble_tool_calls(chunks: list[ChatChunk]) -> list[dict[str, str]]:
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for choice in chunk.data["choices"]:
            for delta in choice["delta"].get("tool_calls", []):
                call = calls.setdefault(delta["index"], {"id": "", "name": "", "arguments": ""})
                call["id"] = delta.get("id") or call["id"]
                call["name"] = delta["function"].get("name") or call["name"]
                call["arguments"] += delta["function"].get("arguments", "")
    return [calls[i] for i in sorted(calls)]


@pytest.mark.parametrize("streamed", [False, True])
async def test_tool_round_trip_with_two_parallel_calls(provider: BedrockProvider, fake: FakeBedrock,
                                                       streamed: bool) -> None:
    fake.replies.append(Reply(text="Checking both.", tool_uses=[
        ("tooluse_paris", "weather", {"city": "Paris"}), ("tooluse_rome", "weather", {"city": "Rome"})]))
    first = {"messages": [user("Weather in Paris and Rome?")], "tools": [WEATHER], "tool_choice": "auto"}
    if streamed:
        chunks = await stream(provider, first)
        calls = assemble_tool_calls(chunks)
        assert chunks[-2].data["choices"][0]["finish_reason"] == "tool_calls"
    else:
        message = (await complete(provider, first)).body["choices"][0]["message"]
        calls = [{"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
                 for c in message["tool_calls"]]
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in calls] == [
        ("tooluse_paris", "weather", {"city": "Paris"}), ("tooluse_rome", "weather", {"city": "Rome"})]
    assistant = {"role": "assistant", "content": "Checking both.", "tool_calls": [
        {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
        for c in calls]}
    second = {"messages": [*first["messages"], assistant,
                           {"role": "tool", "tool_call_id": "tooluse_paris", "content": "18C"},
                           {"role": "tool", "tool_call_id": "tooluse_rome", "content": "24C"}],
              "tools": [WEATHER]}
    result = await complete(provider, second)
    assert result.body["choices"][0]["message"]["content"] == "tool results: tooluse_paris=18C; tooluse_rome=24C"
    sent = fake.received[-1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert [list(b) for b in sent[1]["content"]] == [["text"], ["toolUse"], ["toolUse"]]


async def test_image_reaches_bedrock_as_a_validated_blob(provider: BedrockProvider, fake: FakeBedrock) -> None:
    await complete(provider, {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]}]})
    image = fake.received[-1].body["messages"][0]["content"][1]["image"]
    assert image["format"] == "png" and base64.b64decode(image["source"]["bytes"]).startswith(b"\x89PNG")


async def test_cache_tokens_are_counted(provider: BedrockProvider, fake: FakeBedrock) -> None:
    usage = {"inputTokens": 5, "outputTokens": 2, "totalTokens": 107, "cacheReadInputTokens": 80,
             "cacheWriteInputTokens": 20}
    fake.replies.append(Reply(text="ok", usage=usage))
    result = await complete(provider, {"messages": [user("x")]})
    assert (result.usage.prompt_tokens, result.usage.cached_tokens) == (105, 80)
    assert result.body["usage"]["prompt_tokens_details"] == {"cached_tokens": 80}
    fake.replies.append(Reply(text="ok", usage=usage))
    last = (await stream(provider, {"messages": [user("x")]}))[-1]
    assert last.usage is not None and (last.usage.prompt_tokens, last.usage.cached_tokens) == (105, 80)


async def test_temporary_credentials_send_their_session_token(fake: FakeBedrock,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    fake.credentials["ASIATEMPORARY"] = ("temporary-secret", "the-session-token")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIATEMPORARY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "temporary-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "the-session-token")
    provider = await started(fake)
    try:
        await complete(provider, {"messages": [user("x")]})
    finally:
        await provider.close()
    assert fake.received[-1].access_key == "ASIATEMPORARY"
    assert fake.received[-1].headers["X-Amz-Security-Token"] == "the-session-token"


@pytest.mark.parametrize(("region", "secret", "error_type"), [
    ("us-west-2", SECRET_KEY, "InvalidSignatureException"),   # signed for the wrong region
    ("us-east-1", "not-the-secret", "InvalidSignatureException"),
])
async def test_bad_signatures_are_refused_as_auth_errors(fake: FakeBedrock, monkeypatch: pytest.MonkeyPatch,
                                                         region: str, secret: str, error_type: str) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    provider = await started(fake, region=region)
    try:
        with pytest.raises(ProviderError) as caught:
            await complete(provider, {"messages": [user("x")]})
    finally:
        await provider.close()
    assert caught.value.kind is ErrorKind.AUTH and not caught.value.retryable
    assert error_type in caught.value.message and secret not in caught.value.message
    assert fake.received == []


async def test_config_validation() -> None:
    with pytest.raises(ValueError, match="region"):
        BedrockProvider.from_config(ProviderConfig("b", "bedrock", {}))
    with pytest.raises(ValueError, match="colour"):
        BedrockProvider.from_config(ProviderConfig("b", "bedrock", {"region": "us-east-1", "colour": "red"}))
    provider = BedrockProvider.from_config(ProviderConfig("b", "bedrock", {
        "region": "eu-west-1", "timeouts": {"first_byte": 5}}))
    assert provider.endpoint == "https://bedrock-runtime.eu-west-1.amazonaws.com"
    assert provider.timeouts.first_byte == 5
