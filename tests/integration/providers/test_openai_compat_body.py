"""The OpenAI-compatible provider reading a non-streamed answer from a loopback server: a body
that came whole with the headers is read at once; one that stalls after the headers is bounded
by `total` (a 504 TIMEOUT), however much of it had arrived."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import orjson
import pytest

from providers import build_provider
from providers.base import ChatRequest, ErrorKind, ProviderConfig, ProviderError
from providers.openai_compat import OpenAICompatibleProvider

pytestmark = pytest.mark.timeout(30)

ANSWER = orjson.dumps({"id": "c1", "object": "chat.completion", "model": "m", "choices": [
    {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
BODY = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
Reply = Callable[[asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def upstream(reply: Reply) -> AsyncIterator[str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        await reader.readexactly(length)
        try:
            await reply(writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    finally:
        server.close()


@asynccontextmanager
async def provider_at(base_url: str) -> AsyncIterator[OpenAICompatibleProvider]:
    provider = build_provider(ProviderConfig("up", "openai", {
        "base_url": base_url, "api_key": "sk-test", "timeouts": {"connect": 1, "first_byte": 1, "total": 0.5}}))
    assert isinstance(provider, OpenAICompatibleProvider)
    await provider.start()
    try:
        yield provider
    finally:
        await provider.close()


def head(length: int) -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(length).encode() + b"\r\n\r\n")


async def test_a_body_that_came_with_the_headers_is_the_answer() -> None:
    async def whole(writer: asyncio.StreamWriter) -> None:
        writer.write(head(len(ANSWER)) + ANSWER)
        await writer.drain()

    async with upstream(whole) as url, provider_at(url) as provider:
        result = await provider.chat(ChatRequest(BODY), "m")
    assert result.raw == ANSWER and result.usage.total_tokens == 2


async def test_a_body_that_stalls_after_the_headers_is_a_timeout_within_total() -> None:
    async def stalled(writer: asyncio.StreamWriter) -> None:
        writer.write(head(len(ANSWER)) + ANSWER[:10])   # part of the body, then nothing
        await writer.drain()
        await asyncio.sleep(5)

    started = time.monotonic()
    async with upstream(stalled) as url, provider_at(url) as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.chat(ChatRequest(BODY), "m")
    assert caught.value.kind is ErrorKind.TIMEOUT and caught.value.status == 504
    assert time.monotonic() - started < 3
