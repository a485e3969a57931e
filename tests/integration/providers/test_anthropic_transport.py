"""The Anthropic provider's transport failures against the fake Messages API: which kind each
becomes (the router's retry and failover read it) and that every wait is bounded."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest

from providers import build_provider
from providers.anthropic import AnthropicProvider
from providers.base import ChatChunk, ChatRequest, ChatResult, ErrorKind, ProviderConfig, ProviderError
from tests.fakes.anthropic_upstream import API_KEY, FakeAnthropic, Reply, running_fake_anthropic

BODY = {"model": "claude", "messages": [{"role": "user", "content": "one two three"}]}


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with running_fake_anthropic() as server:
        yield server


@asynccontextmanager
async def provider_at(base_url: str) -> AsyncIterator[AnthropicProvider]:
    provider = build_provider(ProviderConfig("claude", "anthropic", {
        "base_url": base_url, "api_key": API_KEY, "timeouts": {"connect": 1, "first_byte": 0.5, "idle": 0.5}}))
    assert isinstance(provider, AnthropicProvider)
    await provider.start()
    try:
        yield provider
    finally:
        await provider.close()


async def collect(provider: AnthropicProvider) -> list[ChatChunk]:
    return [chunk async for chunk in provider.chat_stream(ChatRequest({**BODY, "stream": True}), "claude-x")]


async def test_plain_and_streamed_answers(fake: FakeAnthropic) -> None:
    async with provider_at(fake.url) as provider:
        result = await provider.chat(ChatRequest(BODY), "claude-x")
        assert isinstance(result, ChatResult) and result.body["choices"][0]["message"]["content"] == "echo: one two three"
        chunks = await collect(provider)
    assert chunks[-1].is_usage_only and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4


async def test_connection_refused_is_a_retryable_connect_error() -> None:
    async with provider_at("http://127.0.0.1:9") as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.chat(ChatRequest(BODY), "claude-x")
    assert caught.value.kind is ErrorKind.CONNECT and caught.value.retryable


async def test_headers_then_silence_is_a_retryable_timeout_within_first_byte(fake: FakeAnthropic) -> None:
    fake.then(Reply(stall_after=0))
    started = time.monotonic()
    async with provider_at(fake.url) as provider:
        with pytest.raises(ProviderError) as caught:
            await collect(provider)
    assert caught.value.kind is ErrorKind.TIMEOUT and caught.value.retryable and caught.value.status == 504
    assert time.monotonic() - started < 3


async def test_silence_after_the_first_chunk_is_a_stream_error_within_idle(fake: FakeAnthropic) -> None:
    fake.then(Reply(stall_after=4))
    chunks: list[ChatChunk] = []
    async with provider_at(fake.url) as provider:
        with pytest.raises(ProviderError) as caught:
            async for chunk in provider.chat_stream(ChatRequest({**BODY, "stream": True}), "claude-x"):
                chunks.append(chunk)
    assert caught.value.kind is ErrorKind.STREAM and not caught.value.retryable
    assert [c.data["choices"][0]["delta"].get("content") for c in chunks] == ["", "echo:"]


async def test_retry_after_is_read_from_429_and_529(fake: FakeAnthropic) -> None:
    fake.then(Reply(status=429, retry_after="3"), Reply(status=529, retry_after="4"), Reply(status=413))
    async with provider_at(fake.url) as provider:
        errors = []
        for _ in range(3):
            with pytest.raises(ProviderError) as caught:
                await provider.chat(ChatRequest(BODY), "claude-x")
            errors.append(caught.value)
    assert [(e.kind, e.status, e.retry_after) for e in errors] == [
        (ErrorKind.RATE_LIMITED, 429, 3.0), (ErrorKind.SERVER, 503, 4.0), (ErrorKind.BAD_REQUEST, 413, None)]
    assert errors[2].body is not None and errors[2].body["error"]["code"] == "request_too_large"
