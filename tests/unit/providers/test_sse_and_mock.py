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


# -- the mock honours what shapes an answer (issue 23: it ignored max_tokens, n, logprobs,
#    encoding_format and dimensions, and streamed a long echo one word a chunk) ----------

async def test_the_mock_cuts_at_max_tokens_with_finish_reason_length() -> None:
    from providers.mock import MockProvider
    mock = MockProvider("mock")
    text = "one two three four five six seven eight nine ten"
    body = {"model": "m", "max_tokens": 2, "messages": [{"role": "user", "content": text}]}
    result = await mock.chat(ChatRequest(body), "echo")
    choice = result.body["choices"][0]
    assert choice["finish_reason"] == "length" and choice["message"]["content"] == text[:8]
    assert result.usage.completion_tokens == 2
    chunks = [c.data async for c in mock.chat_stream(ChatRequest({**body, "stream": True}), "echo")]
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert streamed == text[:8] and chunks[-2]["choices"][0]["finish_reason"] == "length"


async def test_the_mock_answers_n_choices_with_logprobs() -> None:
    from providers.mock import MockProvider
    body = {"model": "m", "n": 3, "logprobs": True, "top_logprobs": 2,
            "messages": [{"role": "user", "content": "hello there"}]}
    result = await MockProvider("mock").chat(ChatRequest(body), "echo")
    assert [c["index"] for c in result.body["choices"]] == [0, 1, 2]
    content = result.body["choices"][2]["logprobs"]["content"]
    assert [t["token"] for t in content] == ["hello", " there"] and content[0]["logprob"] == 0.0
    assert result.usage.completion_tokens == 3 * 3


async def test_a_long_echo_streams_in_few_chunks() -> None:
    from providers.mock import MockProvider
    text = " ".join(["word"] * 100_000)
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": text}]}
    chunks = [c.data async for c in MockProvider("mock").chat_stream(ChatRequest(body), "echo")]
    assert len(chunks) <= 70
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == text


async def test_mock_embeddings_honour_dimensions_and_base64() -> None:
    import base64
    import struct

    from providers.mock import MockProvider
    mock = MockProvider("mock")
    floats = await mock.embeddings({"input": ["a", "b"], "dimensions": 256}, "embed")
    vectors = [d["embedding"] for d in floats.body["data"]]
    assert [len(v) for v in vectors] == [256, 256] and vectors[0] != vectors[1]
    packed = await mock.embeddings({"input": "a", "dimensions": 256, "encoding_format": "base64"}, "embed")
    decoded = struct.unpack("<256f", base64.b64decode(packed.body["data"][0]["embedding"]))
    assert list(decoded) == pytest.approx(vectors[0], abs=1e-6)    # float32 precision
