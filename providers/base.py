"""The provider interface: what the router needs from an upstream, and nothing else.

A provider receives the client's OpenAI-shaped request (already checked, redacted and
resolved to a deployment) and answers in OpenAI's shape: a whole `ChatResult` from `chat`,
or `ChatChunk`s from the async generator `chat_stream`. Translation to and from the
upstream's own format is the provider's business; everything else (limits, cache, charge)
is not.

A provider is one class, registered by one line in `providers.PROVIDER_TYPES`: it declares
its gateway.yaml `type`, the options it accepts, which of them identify the upstream (for
shared circuit breakers) and its OpenTelemetry `gen_ai.provider.name`. Nothing else in the
gateway lists providers.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import orjson

JSON = dict[str, Any]


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def from_openai(cls, usage: Mapping[str, Any] | None) -> Usage | None:
        """Reads OpenAI's `usage` object; None when the upstream sent none."""
        if not isinstance(usage, Mapping):
            return None
        details = usage.get("prompt_tokens_details")
        cached = details.get("cached_tokens", 0) if isinstance(details, Mapping) else 0
        return cls(
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            cached_tokens=int(cached or 0),
        )

    def to_openai(self) -> JSON:
        out: JSON = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.cached_tokens:
            out["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        return out


@dataclass(slots=True)
class ChatRequest:
    """The client's request body, kept as parsed JSON so unknown fields pass through.

    `body["model"]` is what the client asked for; providers put the upstream model name
    into what they send, never into this object.
    """

    body: JSON

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream", False))

    @property
    def messages(self) -> list[JSON]:
        messages = self.body.get("messages")
        return messages if isinstance(messages, list) else []

    @property
    def max_tokens(self) -> int | None:
        value = self.body.get("max_completion_tokens", self.body.get("max_tokens"))
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def wants_stream_usage(self) -> bool:
        options = self.body.get("stream_options")
        return isinstance(options, dict) and bool(options.get("include_usage"))


@dataclass(slots=True)
class ChatResult:
    """A whole (non-streamed) completion in OpenAI's shape.

    `raw` holds the upstream's bytes when they are already the OpenAI body the client
    should get, so that the hot path can forward them without serialising again.
    """

    body: JSON
    usage: Usage
    raw: bytes | None = None

    def to_bytes(self) -> bytes:
        return self.raw if self.raw is not None else orjson.dumps(self.body)

    def replace_body(self, body: JSON) -> None:
        self.body = body
        self.raw = None


@dataclass(slots=True)
class ChatChunk:
    """One `chat.completion.chunk` of a stream; `raw` as for ChatResult."""

    data: JSON
    raw: bytes | None = None

    @property
    def usage(self) -> Usage | None:
        return Usage.from_openai(self.data.get("usage"))

    @property
    def is_usage_only(self) -> bool:
        """The trailing chunk OpenAI sends for `include_usage`: usage and no choices."""
        return not self.data.get("choices") and self.data.get("usage") is not None

    def to_bytes(self) -> bytes:
        return self.raw if self.raw is not None else orjson.dumps(self.data)

    def replace_data(self, data: JSON) -> None:
        self.data = data
        self.raw = None


class ErrorKind(enum.StrEnum):
    """Why an upstream call failed; bounded, so it can be a metric label."""

    CONNECT = "connect"
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    SERVER = "server"
    BAD_REQUEST = "bad_request"
    AUTH = "auth"
    BAD_RESPONSE = "bad_response"
    STREAM = "stream"


_RETRYABLE = {ErrorKind.CONNECT, ErrorKind.TIMEOUT, ErrorKind.RATE_LIMITED, ErrorKind.SERVER}


class ProviderError(Exception):
    """An upstream call failed. `retryable` decides whether the router may try another
    deployment; `status` and `body` are what the client sees when it may not.

    The message must never contain a credential: providers build it from the upstream's
    error text and the upstream's name only.
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int = 502,
        body: JSON | None = None,
        retry_after: float | None = None,
        provider: str = "",
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.body = body
        self.retry_after = retry_after
        self.provider = provider

    @property
    def retryable(self) -> bool:
        return self.kind in _RETRYABLE


@dataclass(slots=True)
class EmbeddingsResult:
    body: JSON
    usage: Usage


class Provider(ABC):
    """One configured upstream (an entry under `providers:` in gateway.yaml)."""

    type: ClassVar[str]                          # the gateway.yaml `type:` this class serves
    genai_system: ClassVar[str]                  # OpenTelemetry gen_ai.provider.name
    options: ClassVar[frozenset[str]]            # keys accepted under providers.<name> (checked at load)
    identity_options: ClassVar[tuple[str, ...]] = ()   # options naming the upstream (shared breakers)
    name: str

    @classmethod
    def check_options(cls, name: str, options: Mapping[str, Any]) -> None:
        """Checks the values of a gateway.yaml entry at load, before anything starts; raises
        ValueError naming the key. By default only the keys are checked (`options`)."""

    @classmethod
    @abstractmethod
    def from_config(cls, config: ProviderConfig) -> Self:
        """Builds the provider from its gateway.yaml entry; ValueError names a bad option."""

    @abstractmethod
    async def chat(self, request: ChatRequest, upstream_model: str) -> ChatResult:
        """A whole answer to a non-streamed request."""

    @abstractmethod
    def chat_stream(self, request: ChatRequest, upstream_model: str) -> AsyncIterator[ChatChunk]:
        """An async generator of a streamed answer's chunks; a failure before the first byte
        raises ProviderError from the first `__anext__` (the router may then fall back)."""

    async def embeddings(self, body: JSON, upstream_model: str) -> EmbeddingsResult:
        raise ProviderError(
            ErrorKind.BAD_REQUEST,
            f"provider {self.name!r} does not serve embeddings",
            status=400,
            provider=self.name,
        )

    async def start(self) -> None:
        """Opens pooled resources; called once from the app's lifespan."""

    async def close(self) -> None:
        """Releases what start() opened."""


@runtime_checkable
class ResponsesUpstream(Protocol):
    """A provider whose upstream also serves OpenAI's Responses API (when `responses_api` is
    on): `responses` takes the client's Responses body and answers in that API's shape."""

    responses_api: bool

    async def responses(self, request: ChatRequest, upstream_model: str) -> ChatResult | AsyncIterator[ChatChunk]: ...


def serves_responses(provider: Provider) -> bool:
    return isinstance(provider, ResponsesUpstream) and provider.responses_api


@dataclass(slots=True)
class ProviderConfig:
    """One `providers:` entry of gateway.yaml, after `${VAR}` expansion."""

    name: str
    type: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-provider time limits in seconds (gateway.yaml `timeouts:` on a provider entry).

    first_byte bounds the wait for response headers (and, for streams, the first chunk);
    idle bounds the gap between stream chunks; total bounds the whole call.
    """

    connect: float = 5.0
    first_byte: float = 60.0
    idle: float = 30.0
    total: float = 600.0

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> Timeouts:
        if not options:
            return cls()
        known = {"connect", "first_byte", "idle", "total"}
        unknown = set(options) - known
        if unknown:
            raise ValueError(f"unknown timeouts: {', '.join(sorted(unknown))}")
        return cls(**{k: float(v) for k, v in options.items()})
