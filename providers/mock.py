"""The `mock` provider: deterministic, for demos, local development and load tests.

It is no model and never claims to be one: it answers with the text of the last user
message exactly as it reached the provider (after guardrails), word by word when streaming
(a long text a few words a chunk), and reports usage counted from that text. Its responses
name it (`model: mock/<upstream>`). It honours what shapes an answer, so that a newcomer can
exercise those paths without a provider key: `max_tokens` / `max_completion_tokens` (the
text cut there, `finish_reason: length`), `n` (that many identical choices), `logprobs` and
`top_logprobs` (every word certain: logprob 0), and for embeddings `dimensions` and
`encoding_format: base64`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from providers.base import (
    JSON,
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingsResult,
    Provider,
    ProviderConfig,
    Usage,
)
from providers.tokens import CHARS_PER_TOKEN, estimate_prompt_tokens, estimate_text_tokens

_MAX_CONTENT_CHUNKS = 64      # a long echo streams in at most this many content chunks
_DEFAULT_DIMENSIONS = 8
_MAX_DIMENSIONS = 4096


def last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(p["text"] for p in content
                                if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


class MockProvider(Provider):
    type = "mock"
    genai_system = "mock"
    options = frozenset({"delay_ms", "chunk_delay_ms", "timeouts"})

    def __init__(self, name: str, *, delay_ms: float = 0, chunk_delay_ms: float = 0) -> None:
        self.name = name
        self.delay = delay_ms / 1000
        self.chunk_delay = chunk_delay_ms / 1000

    @classmethod
    def from_config(cls, config: ProviderConfig) -> MockProvider:
        options = config.options
        return cls(config.name, delay_ms=float(options.get("delay_ms", 0)),
                   chunk_delay_ms=float(options.get("chunk_delay_ms", 0)))

    async def chat(self, request: ChatRequest, upstream_model: str) -> ChatResult:
        answer = _Answer(request, upstream_model)
        if self.delay:
            await asyncio.sleep(self.delay)
        message = {"role": "assistant", "content": answer.text}
        body: JSON = {
            "id": answer.ident, "object": "chat.completion", "created": int(time.time()), "model": answer.model,
            "system_fingerprint": "mock",
            "choices": [{"index": i, "message": dict(message), "logprobs": answer.logprobs(answer.words),
                         "finish_reason": answer.finish} for i in range(answer.n)],
            "usage": answer.usage.to_openai(),
        }
        return ChatResult(body=body, usage=answer.usage)

    async def chat_stream(self, request: ChatRequest, upstream_model: str) -> AsyncIterator[ChatChunk]:
        answer = _Answer(request, upstream_model)
        created = int(time.time())

        def chunk(index: int, delta: JSON, finish: str | None = None, logprobs: JSON | None = None) -> ChatChunk:
            return ChatChunk(data={"id": answer.ident, "object": "chat.completion.chunk", "created": created,
                                   "model": answer.model, "system_fingerprint": "mock",
                                   "choices": [{"index": index, "delta": delta, "logprobs": logprobs,
                                                "finish_reason": finish}]})

        if self.delay:
            await asyncio.sleep(self.delay)
        for index in range(answer.n):
            yield chunk(index, {"role": "assistant", "content": ""})
        for piece in answer.pieces():
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            for index in range(answer.n):
                yield chunk(index, {"content": "".join(piece)}, logprobs=answer.logprobs(piece))
        for index in range(answer.n):
            yield chunk(index, {}, answer.finish)
        yield ChatChunk(data={"id": answer.ident, "object": "chat.completion.chunk", "created": created,
                              "model": answer.model, "choices": [], "usage": answer.usage.to_openai()})

    async def embeddings(self, body: JSON, upstream_model: str) -> EmbeddingsResult:
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else [str(t) for t in inputs or []]
        dimensions = body.get("dimensions")
        size = dimensions if isinstance(dimensions, int) and 0 < dimensions <= _MAX_DIMENSIONS else _DEFAULT_DIMENSIONS
        as_base64 = body.get("encoding_format") == "base64"
        data = [{"object": "embedding", "index": i,
                 "embedding": _base64(_vector(t, size)) if as_base64 else _vector(t, size)}
                for i, t in enumerate(texts)]
        usage = Usage(prompt_tokens=sum(estimate_text_tokens(t) for t in texts))
        return EmbeddingsResult(body={"object": "list", "data": data, "model": f"mock/{upstream_model}",
                                      "usage": {"prompt_tokens": usage.prompt_tokens,
                                                "total_tokens": usage.prompt_tokens}}, usage=usage)


class _Answer:
    """What the mock says to one request: the echo, cut at max_tokens, in `n` choices."""

    def __init__(self, request: ChatRequest, upstream_model: str) -> None:
        text = last_user_text(request.messages)
        limit = request.max_tokens
        self.finish = "stop"
        if limit is not None and estimate_text_tokens(text) > limit:
            text = text[: max(0, limit) * CHARS_PER_TOKEN]
            self.finish = "length"
        self.text = text
        words = text.split(" ")
        self.words = [w if i == 0 else " " + w for i, w in enumerate(words)] if text else []
        n = request.body.get("n")
        self.n = n if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 128 else 1
        self.with_logprobs = request.body.get("logprobs") is True
        top = request.body.get("top_logprobs")
        self.top = top if isinstance(top, int) and not isinstance(top, bool) and top > 0 else 0
        self.usage = Usage(prompt_tokens=estimate_prompt_tokens(request.messages),
                           completion_tokens=estimate_text_tokens(text) * self.n)
        self.ident = f"chatcmpl-mock-{uuid.uuid4().hex[:24]}"
        self.model = f"mock/{upstream_model}"

    def pieces(self) -> list[list[str]]:
        """The words, one a chunk; a long text a few words a chunk (a 3 MB echo once streamed
        back as 364 MB of one-word chunks)."""
        per = max(1, -(-len(self.words) // _MAX_CONTENT_CHUNKS))
        return [self.words[i:i + per] for i in range(0, len(self.words), per)]

    def logprobs(self, tokens: list[str]) -> JSON | None:
        if not self.with_logprobs:
            return None
        return {"content": [{"token": t, "logprob": 0.0, "bytes": list(t.encode()),
                             "top_logprobs": [{"token": t, "logprob": 0.0, "bytes": list(t.encode())}][:self.top]}
                            for t in tokens],
                "refusal": None}


def _vector(text: str, dimensions: int = _DEFAULT_DIMENSIONS) -> list[float]:
    """A deterministic unit-free vector derived from the text's hash."""
    digest = hashlib.shake_256(text.encode()).digest(4 * dimensions)
    return [round(v / 2**31, 6) for v in struct.unpack(f">{dimensions}i", digest)]


def _base64(vector: list[float]) -> str:
    """OpenAI's `encoding_format: base64`: little-endian float32s."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
