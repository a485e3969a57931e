"""The `mock` provider: deterministic, for demos, local development and load tests.

It is no model and never claims to be one: it answers with the text of the last user
message exactly as it reached the provider (after guardrails), word by word when streaming,
and reports usage counted from that text. Its responses name it (`model: mock/<upstream>`).
"""

from __future__ import annotations

import asyncio
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
from providers.tokens import estimate_prompt_tokens, estimate_text_tokens


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
        text, usage, ident, model = _answer(request, upstream_model)
        if self.delay:
            await asyncio.sleep(self.delay)
        body: JSON = {
            "id": ident, "object": "chat.completion", "created": int(time.time()), "model": model,
            "system_fingerprint": "mock",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": usage.to_openai(),
        }
        return ChatResult(body=body, usage=usage)

    async def chat_stream(self, request: ChatRequest, upstream_model: str) -> AsyncIterator[ChatChunk]:
        text, usage, ident, model = _answer(request, upstream_model)
        created = int(time.time())

        def chunk(delta: JSON, finish: str | None = None) -> ChatChunk:
            return ChatChunk(data={"id": ident, "object": "chat.completion.chunk", "created": created,
                                   "model": model, "system_fingerprint": "mock",
                                   "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                                "finish_reason": finish}]})

        if self.delay:
            await asyncio.sleep(self.delay)
        yield chunk({"role": "assistant", "content": ""})
        words = text.split(" ")
        for i, word in enumerate(words):
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            yield chunk({"content": word if i == 0 else " " + word})
        yield chunk({}, "stop")
        yield ChatChunk(data={"id": ident, "object": "chat.completion.chunk", "created": created,
                              "model": model, "choices": [], "usage": usage.to_openai()})

    async def embeddings(self, body: JSON, upstream_model: str) -> EmbeddingsResult:
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else [str(t) for t in inputs or []]
        data = [{"object": "embedding", "index": i, "embedding": _vector(t)} for i, t in enumerate(texts)]
        usage = Usage(prompt_tokens=sum(estimate_text_tokens(t) for t in texts))
        return EmbeddingsResult(body={"object": "list", "data": data, "model": f"mock/{upstream_model}",
                                      "usage": {"prompt_tokens": usage.prompt_tokens,
                                                "total_tokens": usage.prompt_tokens}}, usage=usage)


def _answer(request: ChatRequest, upstream_model: str) -> tuple[str, Usage, str, str]:
    """The echoed text, its usage, a fresh completion id and the model name answered with."""
    text = last_user_text(request.messages)
    usage = Usage(prompt_tokens=estimate_prompt_tokens(request.messages),
                  completion_tokens=estimate_text_tokens(text))
    return text, usage, f"chatcmpl-mock-{uuid.uuid4().hex[:24]}", f"mock/{upstream_model}"


def _vector(text: str, dimensions: int = 8) -> list[float]:
    """A deterministic unit-free vector derived from the text's hash."""
    digest = hashlib.sha256(text.encode()).digest()
    return [round(v / 2**31, 6) for v in struct.unpack(f">{dimensions}i", digest[: 4 * dimensions])]
