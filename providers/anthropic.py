"""Anthropic's Messages API (`POST {base_url}/v1/messages`, `x-api-key`, `anthropic-version`).

Translation lives in `anthropic_translate` (pure); this module moves bytes and turns
Anthropic's errors into ProviderErrors: connect errors, timeouts, 429, 5xx and 529
(overloaded) are retryable, with `retry-after` honoured; other 4xx are the client's, except
401/403 (the gateway's own key: a 502 naming the provider) and 404 (the catalog names a model
Anthropic does not know). A stream's failures before its first chunk keep their retryable
kind; after it, every failure is ErrorKind.STREAM, and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import aiohttp
import orjson
from opentelemetry import propagate

from providers.anthropic_answers import StreamTranslator, chat_completion
from providers.anthropic_translate import DEFAULT_MAX_TOKENS, openai_error_body, to_messages
from providers.base import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    ErrorKind,
    Provider,
    ProviderConfig,
    ProviderError,
    Timeouts,
)
from providers.http import Transport, TransportFactory, UpstreamResponse, new_session
from providers.openai_compat import parse_retry_after
from providers.sse import iter_sse_data

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_BASE_URL = "https://api.anthropic.com"
_MAX_ERROR_TEXT = 500


class AnthropicProvider(Provider):
    type = "anthropic"
    genai_system: ClassVar[str] = "anthropic"
    options: ClassVar[frozenset[str]] = frozenset(
        {"base_url", "api_key", "anthropic_version", "max_tokens", "timeouts", "headers"})
    identity_options: ClassVar[tuple[str, ...]] = ("base_url",)

    def __init__(self, name: str, *, api_key: str, base_url: str = DEFAULT_BASE_URL,
                 version: str = ANTHROPIC_VERSION, max_tokens: int = DEFAULT_MAX_TOKENS,
                 timeouts: Timeouts | None = None, headers: Mapping[str, str] | None = None,
                 transport: TransportFactory = new_session) -> None:
        self.name = name
        self.messages_url = base_url.rstrip("/").removesuffix("/v1") + "/v1/messages"
        self.max_tokens = max_tokens
        self.timeouts = timeouts or Timeouts()
        self._headers = {**(headers or {}), "content-type": "application/json", "anthropic-version": version,
                         "x-api-key": api_key}
        self._transport = transport
        self._session: Transport | None = None

    @classmethod
    def from_config(cls, config: ProviderConfig) -> AnthropicProvider:
        options = config.options
        unknown = sorted(set(options) - cls.options - {"type"})
        if unknown:
            raise ValueError(f"provider {config.name!r}: unknown anthropic options: {', '.join(unknown)}")
        api_key = options.get("api_key") or os.environ.get("ANTHROPIC_API_KEY")
        if not api_key:
            raise ValueError(f"provider {config.name!r}: anthropic needs `api_key` (or ANTHROPIC_API_KEY)")
        max_tokens = options.get("max_tokens", DEFAULT_MAX_TOKENS)
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise ValueError(f"provider {config.name!r}: `max_tokens` must be a positive integer")
        headers = options.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise ValueError(f"provider {config.name!r}: `headers` must be a mapping")
        return cls(config.name, api_key=str(api_key), base_url=str(options.get("base_url") or DEFAULT_BASE_URL),
                   version=str(options.get("anthropic_version") or ANTHROPIC_VERSION), max_tokens=max_tokens,
                   timeouts=Timeouts.from_options(options.get("timeouts")),
                   headers={str(k): str(v) for k, v in headers.items()})

    async def start(self) -> None:
        if self._session is None:
            self._session = self._transport(self.timeouts)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- chat -------------------------------------------------------------------------------

    async def chat(self, request: ChatRequest, upstream_model: str) -> ChatResult:
        payload = orjson.dumps(to_messages(request.body, upstream_model, default_max_tokens=self.max_tokens))
        deadline = asyncio.get_running_loop().time() + self.timeouts.total
        response = await self._send(payload)
        try:
            async with asyncio.timeout_at(deadline):
                raw = await response.read()
        except TimeoutError:
            raise self._error(ErrorKind.TIMEOUT, "Anthropic did not finish its answer in time", 504) from None
        except aiohttp.ClientError as exc:
            raise self._error(ErrorKind.SERVER, f"Anthropic's answer was cut ({type(exc).__name__})") from None
        finally:
            response.release()
        try:
            message: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise self._error(ErrorKind.BAD_RESPONSE, "Anthropic's answer is not JSON") from None
        if not isinstance(message, dict) or message.get("type") != "message":
            raise self._error(ErrorKind.BAD_RESPONSE, "Anthropic's answer is not a message")
        body, usage = chat_completion(message, upstream_model)
        return ChatResult(body=body, usage=usage)

    async def chat_stream(self, request: ChatRequest, upstream_model: str) -> AsyncIterator[ChatChunk]:
        payload = orjson.dumps(to_messages(request.body, upstream_model, default_max_tokens=self.max_tokens,
                                           stream=True))
        response = await self._send(payload)
        translator = StreamTranslator(upstream_model)
        started = False      # a chunk has gone out: failures are STREAM from here on
        # message_start's role-only chunk waits for the first content, so that an error event
        # between the two (overloaded, typically) is still one the router may fail over from.
        opening: ChatChunk | None = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeouts.total

        async def readline() -> bytes:
            wait = min(self.timeouts.idle if started else self.timeouts.first_byte, deadline - loop.time())
            try:
                async with asyncio.timeout(max(0.0, wait)):
                    return await response.content.readline()
            except TimeoutError:
                if started:
                    raise self._stream_error(f"Anthropic's stream stalled for {wait:g}s") from None
                raise self._error(ErrorKind.TIMEOUT, f"no event from Anthropic within {wait:g}s", 504) from None
            except aiohttp.ClientError as exc:
                raise self._broken(started, f"Anthropic's stream was cut ({type(exc).__name__})") from None

        try:
            if "text/event-stream" not in response.headers.get("Content-Type", ""):
                raise self._error(ErrorKind.BAD_RESPONSE, "Anthropic answered a stream without text/event-stream")
            async for data in iter_sse_data(readline):
                try:
                    event: Any = orjson.loads(data)
                except orjson.JSONDecodeError:
                    raise self._broken(started, "Anthropic sent an event that is not JSON") from None
                if not isinstance(event, dict):
                    raise self._broken(started, "Anthropic sent an event that is not a JSON object")
                if event.get("type") == "error":
                    raise self._stream_event_error(event.get("error"), started)
                for chunk in translator.on_event(event):
                    if event["type"] == "message_start" and not started:
                        opening = ChatChunk(chunk)
                        continue
                    started = True
                    if opening is not None:
                        yield opening
                        opening = None
                    yield ChatChunk(chunk)
                if translator.stopped:
                    break
        finally:
            if translator.stopped:
                response.release()
            else:   # cut, cancelled or failed: drop the connection so the upstream stops work
                response.close()
        if not translator.stopped:
            raise self._broken(started, "Anthropic's stream ended before message_stop")
        if opening is not None:
            yield opening
        yield ChatChunk(translator.finish())

    # -- transport (the one place that does HTTP) -------------------------------------------

    async def _send(self, payload: bytes) -> UpstreamResponse:
        """POSTs to /v1/messages; returns the response once its 2xx headers are in."""
        if self._session is None:   # used outside the app's lifespan (CLI, tests)
            self._session = self._transport(self.timeouts)
        headers = dict(self._headers)
        propagate.inject(headers)   # W3C traceparent of this attempt's span, if any
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeouts.connect)
        try:
            async with asyncio.timeout(self.timeouts.first_byte):
                response = await self._session.post(self.messages_url, data=payload, headers=headers, timeout=timeout)
        except TimeoutError:
            raise self._error(ErrorKind.TIMEOUT, f"no answer from Anthropic within {self.timeouts.first_byte:g}s",
                              504) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise self._error(ErrorKind.CONNECT, f"cannot reach Anthropic ({type(exc).__name__})") from None
        if response.status < 300:
            return response
        try:
            async with asyncio.timeout(self.timeouts.idle):
                raw = await response.read()
        except (TimeoutError, aiohttp.ClientError):
            raw = b""
        finally:
            response.release()
        raise self._status_error(response.status, response.headers, raw)

    # -- errors -----------------------------------------------------------------------------

    def _status_error(self, status: int, headers: Mapping[str, str], raw: bytes) -> ProviderError:
        error_type, text = _parse_error(raw)
        name = error_type or f"HTTP {status}"
        retry_after = parse_retry_after(headers.get("retry-after"))
        if status == 429:
            return ProviderError(ErrorKind.RATE_LIMITED, f"Anthropic rate-limited the request ({name})", status=429,
                                 body=openai_error_body(f"Anthropic: {text or 'rate limited'}",
                                                        type_="rate_limit_error", code="rate_limit_exceeded"),
                                 retry_after=retry_after, provider=self.name)
        if status == 529 or status == 503:
            return ProviderError(ErrorKind.SERVER, f"Anthropic is overloaded ({name})", status=503,
                                 retry_after=retry_after, provider=self.name)
        if status >= 500:
            return ProviderError(ErrorKind.SERVER, f"Anthropic failed ({name}, HTTP {status})", status=502,
                                 retry_after=retry_after, provider=self.name)
        if status in (401, 403):
            return self._error(ErrorKind.AUTH, f"Anthropic refused the gateway's API key ({name}, HTTP {status}); "
                                               f"check providers.{self.name}.api_key")
        if status == 404:
            return self._error(ErrorKind.BAD_RESPONSE, f"Anthropic answered 404 ({name}): check the catalog's "
                                                       "upstream model id and the provider's base_url")
        # 400 invalid_request_error, 413 request_too_large: the client's. Anthropic's text (which
        # may quote the request) goes to the client in the body, not into the message (logged).
        return ProviderError(ErrorKind.BAD_REQUEST, f"Anthropic rejected the request ({name})", status=status,
                             body=openai_error_body(text or f"Anthropic rejected the request ({name})",
                                                    code=error_type or None),
                             provider=self.name)

    def _stream_event_error(self, error: Any, started: bool) -> ProviderError:
        """An `error` event inside the stream: before the first chunk, classified like the HTTP
        error of its type (overloaded stays retryable); after it, the stream is broken."""
        error_type = str(error.get("type", "")) if isinstance(error, Mapping) else ""
        if started:
            return self._stream_error(f"Anthropic's stream failed mid-way ({error_type or 'error'})")
        status = _STATUS_OF_TYPE.get(error_type, 500)
        return self._status_error(status, {}, orjson.dumps({"type": "error", "error": error}))

    def _error(self, kind: ErrorKind, message: str, status: int = 502) -> ProviderError:
        return ProviderError(kind, f"{message} (provider {self.name})", status=status, provider=self.name)

    def _stream_error(self, message: str) -> ProviderError:
        return ProviderError(ErrorKind.STREAM, f"{message} (provider {self.name})", status=502,
                             body=openai_error_body(message, type_="server_error"), provider=self.name)

    def _broken(self, started: bool, message: str) -> ProviderError:
        """A transport or framing failure: retryable while nothing has reached the client."""
        return self._stream_error(message) if started else self._error(ErrorKind.SERVER, message)


# The status Anthropic answers each error type with, for error events inside a stream.
_STATUS_OF_TYPE = {"invalid_request_error": 400, "authentication_error": 401, "permission_error": 403,
                   "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429,
                   "api_error": 500, "overloaded_error": 529}


def _parse_error(raw: bytes) -> tuple[str, str]:
    """(error type, message) of `{"type": "error", "error": {"type", "message"}}`; blanks when unreadable."""
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return "", ""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", ""
    return str(error.get("type") or ""), str(error.get("message") or "")[:_MAX_ERROR_TEXT]
