"""OpenAI-compatible upstreams (OpenAI itself, vLLM): the request passes through as JSON
with only `model` (and, for streams, `stream_options.include_usage`) changed, and the
answer comes back as the upstream's own bytes.

Errors are classified here, once, for every OpenAI-compatible upstream: connect errors,
timeouts before the first byte, 429 and 5xx are retryable; other 4xx are the client's.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence

import aiohttp
import orjson
from opentelemetry import propagate

from providers.base import (
    JSON,
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingsResult,
    ErrorKind,
    Provider,
    ProviderError,
    Timeouts,
    Usage,
)
from providers.http import Transport, TransportFactory, UpstreamResponse, new_session
from providers.sse import DONE, iter_sse_data

_MAX_ERROR_TEXT = 500
_CHAT = "chat/completions"
_EMBEDDINGS = "embeddings"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def classify_status(status: int) -> ErrorKind:
    if status == 429:
        return ErrorKind.RATE_LIMITED
    if status >= 500:
        return ErrorKind.SERVER
    if status in (401, 403):
        return ErrorKind.AUTH
    return ErrorKind.BAD_REQUEST


def _openai_error_body(payload: bytes) -> JSON | None:
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body
    return None


def _error_message(body: JSON | None, payload: bytes) -> str:
    if body is not None:
        return str(body["error"].get("message", ""))[:_MAX_ERROR_TEXT]
    return payload[:_MAX_ERROR_TEXT].decode("utf-8", "replace")


class _Deadlines:
    """One call's time limits as loop-clock deadlines, from the moment it starts."""

    def __init__(self, timeouts: Timeouts) -> None:
        self.timeouts = timeouts
        now = asyncio.get_running_loop().time()
        self.first_byte = now + timeouts.first_byte
        self.total = now + timeouts.total



class _StreamWatch:
    """Bounds a stream's reads with one timer, where a timeout context per line (and an error
    built in advance for it) had been a fifth of a streamed request's CPU (bench.profile
    --stream). Until the first event the wait is bounded by `first_byte` (TIMEOUT: the
    router may fall back); after it each read by `idle` and all of them by `total` (STREAM).
    Only time spent reading counts: a client slow to take the stream does not make the
    upstream idle. An expired read is woken by closing the response (`expire`)."""

    def __init__(self, deadlines: _Deadlines, error: Callable[[ErrorKind, str, int], ProviderError],
                 expire: Callable[[], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._deadlines = deadlines
        self._error = error
        self._expire = expire
        self.started = False             # the first event arrived
        self.reading_since: float | None = None
        self.expired: ProviderError | None = None
        self._timer = self._loop.call_at(deadlines.first_byte, self._check)

    def _check(self) -> None:
        now = self._loop.time()
        timeouts = self._deadlines.timeouts
        since = self.reading_since
        if since is None:                # not waiting on the upstream now
            self._timer = self._loop.call_at(now + timeouts.idle, self._check)
            return
        if not self.started:
            deadline = self._deadlines.first_byte
            error = (ErrorKind.TIMEOUT, f"upstream sent no first chunk within {timeouts.first_byte:g}s")
        elif since + timeouts.idle <= self._deadlines.total:
            deadline = since + timeouts.idle
            error = (ErrorKind.STREAM, f"upstream stream idle for more than {timeouts.idle:g}s")
        else:
            deadline = self._deadlines.total
            error = (ErrorKind.STREAM, f"upstream stream exceeded the total time limit of {timeouts.total:g}s")
        if now < deadline:
            self._timer = self._loop.call_at(deadline, self._check)
            return
        self.expired = self._error(error[0], error[1], 504)
        self._expire()

    def stop(self) -> None:
        self._timer.cancel()


class OpenAICompatibleProvider(Provider):
    """Shared by the `openai` and `vllm` provider types (and any upstream that speaks
    OpenAI's protocol). Two hooks place a request: `url` (the address of a route on an
    endpoint) and `auth_headers` (the credentials, awaited per request so that a token
    can be refreshed); the defaults are OpenAI's `{endpoint}/{route}` and bearer key."""

    def __init__(self, name: str, endpoints: Sequence[str], *, api_key: str | None = None,
                 timeouts: Timeouts | None = None, headers: Mapping[str, str] | None = None,
                 transport: TransportFactory = new_session) -> None:
        if not endpoints:
            raise ValueError(f"provider {name!r}: at least one endpoint is required")
        self.name = name
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self.timeouts = timeouts or Timeouts()
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        self._auth: Mapping[str, str] = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._next_endpoint = 0
        self._transport = transport
        self._session: Transport | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = self._transport(self.timeouts)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> Transport:
        if self._session is None:  # a provider used outside the app's lifespan (CLI, tests)
            self._session = self._transport(self.timeouts)
        return self._session

    def url(self, endpoint: str, route: str, upstream_model: str) -> str:
        """Where `route` ("chat/completions" | "embeddings") of `endpoint` is."""
        return f"{endpoint}/{route}"

    async def auth_headers(self) -> Mapping[str, str]:
        """The credentials of one request (never logged)."""
        return self._auth

    def _endpoint_order(self) -> list[str]:
        """Round-robin over the pool; the rest follow as fallbacks for connect errors."""
        start = self._next_endpoint % len(self.endpoints)
        self._next_endpoint += 1
        return self.endpoints[start:] + self.endpoints[:start]

    # -- chat -------------------------------------------------------------------------

    def build_body(self, request: ChatRequest, upstream_model: str) -> bytes:
        body = dict(request.body)
        body["model"] = upstream_model
        if request.stream:
            # Every stream is charged from real usage: ask for it even when the client did not.
            options = body.get("stream_options")
            body["stream_options"] = {**(options if isinstance(options, dict) else {}),
                                      "include_usage": True}
        return orjson.dumps(body)

    async def chat(self, request: ChatRequest, upstream_model: str) -> ChatResult:
        payload = self.build_body(request, upstream_model)
        raw, body = await self._post_json(_CHAT, upstream_model, payload)
        usage = Usage.from_openai(body.get("usage")) or Usage()
        return ChatResult(body=body, usage=usage, raw=raw)

    async def _post_json(self, route: str, upstream_model: str, payload: bytes) -> tuple[bytes, JSON]:
        """A non-streamed call: the upstream's bytes and their JSON object."""
        deadlines = _Deadlines(self.timeouts)
        response = await self._post(route, upstream_model, payload, deadlines)
        try:
            if response.content.is_eof():   # the body came with the headers: nothing to wait for
                raw = await response.read()   # (a timeout's timer costs ~7 us to arm and disarm)
            else:
                async with asyncio.timeout_at(deadlines.total):
                    raw = await response.read()
        except TimeoutError:
            raise self._error(ErrorKind.TIMEOUT, f"upstream did not finish the response within "
                              f"{self.timeouts.total:g}s", 504) from None
        except aiohttp.ClientPayloadError:
            # The headers came and the body broke off: a bad answer (502), not a deployment
            # that cannot be reached; the upstream may have done the work, so no retry.
            raise self._error(ErrorKind.BAD_RESPONSE, "upstream response body was cut short", 502) from None
        except aiohttp.ClientError as exc:
            raise self._error(ErrorKind.CONNECT, f"upstream connection failed: {type(exc).__name__}",
                              502) from None
        finally:
            response.release()
        return raw, self._parse_json(raw, response)

    async def chat_stream(self, request: ChatRequest, upstream_model: str) -> AsyncIterator[ChatChunk]:
        # An async generator itself (the Provider contract: nothing happens, and nothing is
        # raised, before the first __anext__), over the stream reader it shares with /responses.
        stream = self._stream(_CHAT, upstream_model, self.build_body(request, upstream_model))
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await stream.aclose()

    async def _stream(self, route: str, upstream_model: str, payload: bytes,
                      last: Callable[[JSON], bool] | None = None) -> AsyncGenerator[ChatChunk, None]:
        """Until the first event arrives, the wait is bounded by `first_byte` and a timeout
        is retryable (TIMEOUT: the router may fall back). After it, each gap is bounded by
        `idle` and the whole stream by `total`, and a timeout ends the stream (STREAM, 504).
        A chat stream ends with `[DONE]`; another (the Responses API's) with the event `last`
        recognises."""
        deadlines = _Deadlines(self.timeouts)
        response = await self._post(route, upstream_model, payload, deadlines)
        clean = False
        watch = _StreamWatch(deadlines, self._error, response.close)
        loop = asyncio.get_running_loop()
        try:
            content_type = response.headers.get("Content-Type", "")
            if "text/event-stream" not in content_type:
                raise self._error(ErrorKind.BAD_RESPONSE,
                                  f"upstream answered a stream with content type {content_type!r}", 502)

            async def readline() -> bytes:
                watch.reading_since = loop.time()
                try:
                    line = await response.content.readline()
                except aiohttp.ClientError as exc:
                    raise watch.expired or self._error(
                        ErrorKind.STREAM, f"upstream stream broken: {type(exc).__name__}", 502) from None
                finally:
                    watch.reading_since = None
                if watch.expired is not None:
                    raise watch.expired
                return line

            async for data in iter_sse_data(readline):
                if data == DONE:
                    clean = True
                    return
                try:
                    chunk = orjson.loads(data)
                except orjson.JSONDecodeError:
                    raise self._error(ErrorKind.STREAM, "upstream sent a malformed stream event", 502) from None
                if not isinstance(chunk, dict):
                    raise self._error(ErrorKind.STREAM, "upstream sent a malformed stream event", 502)
                if "error" in chunk:
                    message = _error_message(chunk, data)
                    raise self._error(ErrorKind.STREAM, f"upstream stream error: {message}", 502)
                watch.started = True
                yield ChatChunk(data=chunk, raw=data)
                if last is not None and last(chunk):
                    clean = True
                    return
            raise self._error(ErrorKind.STREAM, "upstream closed the stream before its end", 502)
        finally:
            watch.stop()
            if clean:
                response.release()
            else:  # cut, cancelled or failed: drop the connection so the upstream stops work
                response.close()

    # -- embeddings -------------------------------------------------------------------

    async def embeddings(self, body: JSON, upstream_model: str) -> EmbeddingsResult:
        deadlines = _Deadlines(self.timeouts)
        response = await self._post(_EMBEDDINGS, upstream_model, orjson.dumps({**body, "model": upstream_model}),
                                    deadlines)
        try:
            async with asyncio.timeout_at(deadlines.total):
                raw = await response.read()
        except TimeoutError:
            raise self._error(ErrorKind.TIMEOUT, "upstream did not finish the response in time", 504) from None
        except aiohttp.ClientPayloadError:
            raise self._error(ErrorKind.BAD_RESPONSE, "upstream response body was cut short", 502) from None
        except aiohttp.ClientError as exc:
            raise self._error(ErrorKind.CONNECT, f"upstream connection failed: {type(exc).__name__}",
                              502) from None
        finally:
            response.release()
        parsed = self._parse_json(raw, response)
        return EmbeddingsResult(body=parsed, usage=Usage.from_openai(parsed.get("usage")) or Usage())

    # -- I/O --------------------------------------------------------------------------

    async def _post(self, route: str, upstream_model: str, payload: bytes,
                    deadlines: _Deadlines) -> UpstreamResponse:
        """Sends the request; returns once a 2xx response's headers arrived, within `first_byte`."""
        last: ProviderError | None = None
        headers = {**self._headers, **await self.auth_headers()}
        propagate.inject(headers)   # W3C traceparent of the current attempt's span, if any
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeouts.connect)
        for endpoint in self._endpoint_order():
            try:
                async with asyncio.timeout_at(deadlines.first_byte):
                    response = await self.session.post(self.url(endpoint, route, upstream_model), data=payload,
                                                       headers=headers,
                                                       timeout=timeout)
            except aiohttp.ConnectionTimeoutError:
                # Nothing was sent: the next endpoint of the pool may take it.
                last = self._error(ErrorKind.CONNECT, f"cannot connect to upstream within "
                                   f"{self.timeouts.connect:g}s", 502)
                continue
            except TimeoutError:
                raise self._error(ErrorKind.TIMEOUT, f"upstream did not answer within "
                                  f"{self.timeouts.first_byte:g}s", 504) from None
            except (aiohttp.ClientConnectionError, OSError) as exc:
                last = self._error(ErrorKind.CONNECT, f"cannot connect to upstream: {type(exc).__name__}", 502)
                continue
            if response.status < 300:
                return response
            try:
                async with asyncio.timeout_at(deadlines.total):
                    raw = await response.read()
            except (aiohttp.ClientError, TimeoutError):
                raw = b""
            finally:
                response.release()
            raise self._status_error(response, raw)
        assert last is not None
        raise last

    def _status_error(self, response: UpstreamResponse, raw: bytes) -> ProviderError:
        kind = classify_status(response.status)
        body = _openai_error_body(raw)
        message = _error_message(body, raw)
        if kind is ErrorKind.AUTH:
            # The upstream refused the gateway's own credentials: an operator problem, not the
            # client's, so it is not passed through as a 401/403.
            return self._error(kind, f"upstream rejected the gateway's credentials ({response.status})", 502)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return ProviderError(kind, f"upstream answered {response.status}: {message}", status=response.status,
                             body=body, retry_after=retry_after, provider=self.name)

    def _parse_json(self, raw: bytes, response: UpstreamResponse) -> JSON:
        content_type = response.headers.get("Content-Type", "")
        if "json" not in content_type:
            raise self._error(ErrorKind.BAD_RESPONSE,
                              f"upstream answered with content type {content_type!r}, not JSON", 502)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise self._error(ErrorKind.BAD_RESPONSE, "upstream answered with malformed JSON", 502) from None
        if not isinstance(body, dict):
            raise self._error(ErrorKind.BAD_RESPONSE, "upstream answered with a JSON value, not an object", 502)
        return body

    def _error(self, kind: ErrorKind, message: str, status: int) -> ProviderError:
        return ProviderError(kind, message, status=status, provider=self.name)
