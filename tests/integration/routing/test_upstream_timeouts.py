"""The four time limits of an OpenAI-compatible upstream call, against the fake upstream
on loopback: connect, first byte (headers, and a stream's first chunk), idle between
chunks, and total. Before the first byte a timeout is retryable; after it, it is not."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from providers.base import ChatRequest, ChatResult, ErrorKind, ProviderError, Timeouts
from providers.openai import OpenAIProvider
from providers.openai_compat import OpenAICompatibleProvider
from tests.fakes.openai_upstream import Behavior, FakeOpenAI
from tests.support.threads import free_port


@pytest.fixture
async def provider(upstream: FakeOpenAI) -> AsyncIterator[OpenAICompatibleProvider]:
    timeouts = Timeouts(connect=1, first_byte=0.5, idle=0.3, total=1.2)
    p = OpenAIProvider("fake", [upstream.url], api_key="sk-upstream-secret", timeouts=timeouts)
    await p.start()
    yield p
    await p.close()


def request(stream: bool, text: str = "a b c") -> ChatRequest:
    return ChatRequest({"model": "m", "stream": stream, "messages": [{"role": "user", "content": text}]})


async def call(provider: OpenAICompatibleProvider, stream: bool, text: str = "a b c") -> list[object]:
    if not stream:
        return [await provider.chat(request(stream, text), "m")]
    return [chunk async for chunk in provider.chat_stream(request(stream, text), "m")]


@pytest.mark.parametrize("stream", [False, True])
async def test_no_headers_within_first_byte_is_a_retryable_timeout(
        provider: OpenAICompatibleProvider, upstream: FakeOpenAI, stream: bool) -> None:
    upstream.then(Behavior("hang"))
    started = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        await call(provider, stream)
    assert 0.5 <= time.monotonic() - started < 1.5
    assert raised.value.kind is ErrorKind.TIMEOUT and raised.value.retryable and raised.value.status == 504


async def test_a_stream_without_a_first_chunk_within_first_byte_is_a_retryable_timeout(
        provider: OpenAICompatibleProvider, upstream: FakeOpenAI) -> None:
    upstream.then(Behavior("silent_stream"))
    started = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        await call(provider, True)
    assert time.monotonic() - started < 1.5
    assert raised.value.kind is ErrorKind.TIMEOUT and raised.value.retryable


async def test_a_gap_longer_than_idle_ends_the_stream(provider: OpenAICompatibleProvider, upstream: FakeOpenAI) -> None:
    upstream.then(Behavior("slow_stream", chunk_delay=0.6))
    response = provider.chat_stream(request(True), "m")
    chunks = []
    with pytest.raises(ProviderError) as raised:
        async for chunk in response:
            chunks.append(chunk)
    assert len(chunks) == 1
    assert raised.value.kind is ErrorKind.STREAM and not raised.value.retryable
    assert raised.value.status == 504 and "idle" in raised.value.message


async def test_a_client_slow_to_take_the_stream_does_not_make_the_upstream_idle(
        provider: OpenAICompatibleProvider, upstream: FakeOpenAI) -> None:
    response = provider.chat_stream(request(True, "a b c d"), "m")   # the upstream sends it all at once
    chunks = []
    async for chunk in response:
        chunks.append(chunk)
        await asyncio.sleep(0.2)          # longer than idle (0.3 s) over two chunks; under total in all
    assert len(chunks) >= 4


async def test_a_stream_longer_than_total_is_ended(provider: OpenAICompatibleProvider, upstream: FakeOpenAI) -> None:
    upstream.then(Behavior("slow_stream", chunk_delay=0.2))     # never idle, but 20 chunks take 4 s
    started = time.monotonic()
    with pytest.raises(ProviderError) as raised:
        await call(provider, True, text=" ".join(["w"] * 17))
    assert 1.2 <= time.monotonic() - started < 2.2
    assert raised.value.kind is ErrorKind.STREAM and "total" in raised.value.message


async def test_a_refused_connection_is_a_retryable_connect_error() -> None:
    p = OpenAIProvider("dead", [f"http://127.0.0.1:{free_port()}/v1"], timeouts=Timeouts(connect=1))
    try:
        with pytest.raises(ProviderError) as raised:
            await call(p, False)
        assert raised.value.kind is ErrorKind.CONNECT and raised.value.retryable
    finally:
        await p.close()


async def test_a_pool_moves_past_an_endpoint_it_cannot_reach(upstream: FakeOpenAI) -> None:
    p = OpenAIProvider("pool", [f"http://127.0.0.1:{free_port()}/v1", upstream.url],
                                 timeouts=Timeouts(connect=1))
    try:
        for _ in range(2):                   # whichever endpoint the round robin starts with
            [result] = await call(p, False)
            assert isinstance(result, ChatResult)
    finally:
        await p.close()
