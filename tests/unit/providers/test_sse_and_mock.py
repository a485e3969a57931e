from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from providers.base import ChatChunk, ChatRequest, ChatResult, ErrorKind
from providers.mock import MockProvider
from providers.openai_compat import classify_status, parse_retry_after
from providers.sse import iter_sse_data


def reader(lines: list[bytes]):  # type: ignore[no-untyped-def]
    queue = list(lines)

    async def readline() -> bytes:
        return queue.pop(0) if queue else b""

    return readline


async def collect(stream: AsyncIterator[bytes]) -> list[bytes]:
    return [item async for item in stream]


async def test_sse_events_split_on_blank_lines_and_ignore_comments() -> None:
    lines = [b": keep-alive\n", b"data: {\"a\": 1}\n", b"\n", b"event: x\n", b"data:{\"b\": 2}\r\n", b"\r\n",
             b"data: line1\n", b"data: line2\n", b"\n", b"data: [DONE]\n", b"\n"]
    assert await collect(iter_sse_data(reader(lines))) == [b'{"a": 1}', b'{"b": 2}', b"line1\nline2", b"[DONE]"]


async def test_sse_last_event_without_trailing_blank_line_is_kept() -> None:
    assert await collect(iter_sse_data(reader([b"data: tail"]))) == [b"tail"]


@pytest.mark.parametrize(("status", "kind"), [(429, ErrorKind.RATE_LIMITED), (500, ErrorKind.SERVER),
                                              (503, ErrorKind.SERVER), (401, ErrorKind.AUTH),
                                              (403, ErrorKind.AUTH), (400, ErrorKind.BAD_REQUEST),
                                              (404, ErrorKind.BAD_REQUEST), (422, ErrorKind.BAD_REQUEST)])
def test_status_classification(status: int, kind: ErrorKind) -> None:
    assert classify_status(status) is kind


def test_retry_after_in_seconds_and_http_date() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0   # in the past


async def test_mock_echoes_the_last_user_message_with_usage() -> None:
    provider = MockProvider("mock")
    request = ChatRequest({"model": "mock-echo", "messages": [
        {"role": "user", "content": "first"}, {"role": "assistant", "content": "x"},
        {"role": "user", "content": [{"type": "text", "text": "hello"}, {"type": "text", "text": "world"}]}]})
    result = await provider.chat(request, "echo")
    assert isinstance(result, ChatResult)
    assert result.body["choices"][0]["message"]["content"] == "hello world"
    assert result.body["model"] == "mock/echo"
    assert result.usage.completion_tokens == 3 and result.usage.prompt_tokens > 0


async def test_mock_streams_word_by_word_and_ends_with_usage() -> None:
    provider = MockProvider("mock")
    stream = provider.chat_stream(ChatRequest({"model": "m", "stream": True,
                                               "messages": [{"role": "user", "content": "a b c"}]}), "echo")
    chunks: list[ChatChunk] = [c async for c in stream]
    text = "".join(c.data["choices"][0]["delta"].get("content", "") for c in chunks if c.data["choices"])
    assert text == "a b c"
    assert chunks[-1].is_usage_only and chunks[-1].usage is not None
