"""Every way a Bedrock call fails, over real sockets: AWS error answers, exception events and
cuts mid-stream, stalls and refused connections. Nothing hangs: every wait is bounded."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from providers.base import ChatChunk, ChatRequest, ChatResult, ErrorKind, ProviderConfig, ProviderError
from providers.bedrock import BedrockProvider
from tests.fakes.bedrock_server import FakeBedrock, StreamFault

MODEL = "us.anthropic.claude-sonnet-4-20250514-v1:0"
QUICK = {"connect": 1, "first_byte": 0.5, "idle": 0.5, "total": 10}
BODY = {"messages": [{"role": "user", "content": "one two three four five"}]}

ERRORS = [  # (Bedrock error, ProviderError kind, status the client would see, retryable)
    ("ThrottlingException", ErrorKind.RATE_LIMITED, 429, True),
    ("ServiceUnavailableException", ErrorKind.SERVER, 503, True),
    ("ModelNotReadyException", ErrorKind.SERVER, 503, True),
    ("InternalServerException", ErrorKind.SERVER, 502, True),
    ("ModelTimeoutException", ErrorKind.TIMEOUT, 504, True),
    ("ValidationException", ErrorKind.BAD_REQUEST, 400, False),
    ("AccessDeniedException", ErrorKind.AUTH, 502, False),
    ("ResourceNotFoundException", ErrorKind.BAD_REQUEST, 404, False),
]


pytestmark = pytest.mark.usefixtures("aws_env")   # fake credentials (tests/integration/providers/conftest.py)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBedrock]:
    async with FakeBedrock.running() as server:
        yield server


async def open_provider(endpoint: str) -> BedrockProvider:
    provider = BedrockProvider.from_config(ProviderConfig("bedrock-use1", "bedrock", {
        "region": "us-east-1", "endpoint_url": endpoint, "timeouts": QUICK}))
    await provider.start()
    return provider


@pytest.fixture
async def provider(fake: FakeBedrock) -> AsyncIterator[BedrockProvider]:
    bedrock = await open_provider(fake.url)
    yield bedrock
    await bedrock.close()


async def stream_of(provider: BedrockProvider, body: dict[str, Any] = BODY) -> AsyncIterator[ChatChunk]:
    return provider.chat_stream(ChatRequest({**body, "stream": True}), MODEL)


async def drain(chunks: AsyncIterator[ChatChunk]) -> tuple[list[ChatChunk], ProviderError]:
    received: list[ChatChunk] = []
    with pytest.raises(ProviderError) as caught:
        async with asyncio.timeout(10):
            async for chunk in chunks:
                received.append(chunk)
    return received, caught.value


@pytest.mark.parametrize(("error_type", "kind", "status", "retryable"), ERRORS)
async def test_error_answers(provider: BedrockProvider, fake: FakeBedrock, error_type: str, kind: ErrorKind,
                             status: int, retryable: bool) -> None:
    fake.fail(error_type, f"fake {error_type} for the test", times=2)
    with pytest.raises(ProviderError) as caught:
        await provider.chat(ChatRequest(BODY), MODEL)
    error = caught.value
    assert (error.kind, error.status, error.retryable) == (kind, status, retryable)
    assert error.provider == "bedrock-use1"
    # a stream fails the same way, on its first __anext__, before any chunk
    chunks = await stream_of(provider)
    received, error = await drain(chunks)
    assert received == [] and (error.kind, error.status) == (kind, status)


async def test_validation_message_reaches_the_client_body(provider: BedrockProvider, fake: FakeBedrock) -> None:
    fake.fail("ValidationException", "The model returned the following errors: max_tokens: 9999999 > 64000")
    with pytest.raises(ProviderError) as caught:
        await provider.chat(ChatRequest(BODY), MODEL)
    assert caught.value.body == {"error": {
        "message": "The model returned the following errors: max_tokens: 9999999 > 64000",
        "type": "invalid_request_error", "param": None, "code": None}}


async def test_throttling_passes_retry_after_on(provider: BedrockProvider, fake: FakeBedrock) -> None:
    fake.fail("ThrottlingException", "Too many requests, please wait before trying again.")
    fake.retry_after = "2"
    with pytest.raises(ProviderError) as caught:
        await provider.chat(ChatRequest(BODY), MODEL)
    assert caught.value.retry_after == 2.0


@pytest.mark.parametrize("exception", ["modelStreamErrorException", "throttlingException",
                                       "internalServerException", "validationException"])
async def test_exception_event_mid_stream_ends_the_stream_with_an_error(
        provider: BedrockProvider, fake: FakeBedrock, exception: str) -> None:
    fake.stream_fault = StreamFault("exception", after=3, exception=exception)
    received, error = await drain(await stream_of(provider))
    assert len(received) == 3  # messageStart and two text deltas went through first
    assert error.kind is ErrorKind.STREAM and not error.retryable and error.status == 502
    assert error.body is not None and set(error.body["error"]) == {"message", "type", "param", "code"}


async def test_exception_event_before_any_chunk_stays_retryable(provider: BedrockProvider,
                                                                fake: FakeBedrock) -> None:
    fake.stream_fault = StreamFault("exception", after=0, exception="throttlingException")
    received, error = await drain(await stream_of(provider))
    assert received == [] and error.kind is ErrorKind.RATE_LIMITED and error.retryable


@pytest.mark.parametrize("mid_frame", [False, True])
async def test_connection_cut_mid_stream(provider: BedrockProvider, fake: FakeBedrock, mid_frame: bool) -> None:
    fake.stream_fault = StreamFault("cut", after=3, mid_frame=mid_frame)
    received, error = await drain(await stream_of(provider))
    assert len(received) == 3 and error.kind is ErrorKind.STREAM


async def test_stall_mid_stream_hits_the_idle_timeout(provider: BedrockProvider, fake: FakeBedrock) -> None:
    fake.stream_fault = StreamFault("stall", after=2)
    received, error = await drain(await stream_of(provider))
    assert len(received) == 2 and error.kind is ErrorKind.STREAM and "stalled" in error.message


async def test_no_first_byte_is_a_timeout(provider: BedrockProvider, fake: FakeBedrock) -> None:
    fake.first_byte_delay = 5
    with pytest.raises(ProviderError) as caught:
        await provider.chat(ChatRequest(BODY), MODEL)
    assert caught.value.kind is ErrorKind.TIMEOUT and caught.value.retryable and caught.value.status == 504
    received, error = await drain(await stream_of(provider))
    assert received == [] and error.kind is ErrorKind.TIMEOUT


async def test_connection_refused_is_a_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = await open_provider(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(ProviderError) as caught:
            await provider.chat(ChatRequest(BODY), MODEL)
        assert caught.value.kind is ErrorKind.CONNECT and caught.value.retryable
        received, error = await drain(await stream_of(provider))
        assert received == [] and error.kind is ErrorKind.CONNECT
    finally:
        await provider.close()


async def test_unsupported_parameter_fails_before_any_request(provider: BedrockProvider,
                                                              fake: FakeBedrock) -> None:
    with pytest.raises(ProviderError) as caught:
        await anext(provider.chat_stream(ChatRequest({**BODY, "n": 3, "stream": True}), MODEL))
    assert caught.value.kind is ErrorKind.BAD_REQUEST and caught.value.status == 400
    assert fake.received == []


async def test_client_leaving_mid_stream_frees_the_connection(provider: BedrockProvider,
                                                             fake: FakeBedrock) -> None:
    chunks = await stream_of(provider)
    assert isinstance(chunks, AsyncIterator)
    async for _ in chunks:
        break
    await chunks.aclose()  # type: ignore[attr-defined]
    # the provider still works afterwards
    result = await provider.chat(ChatRequest(BODY), MODEL)
    assert isinstance(result, ChatResult)
