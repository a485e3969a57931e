"""The one pooled upstream HTTP session (aiohttp): measured 1,335 req/s against httpx's 204
on this hardware (DESIGN.md), so it carries the hot path. Opened in the app's lifespan.
Providers reach it through the `Transport` seam below, which tests fill with a MockTransport."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import orjson
from multidict import CIMultiDict
from yarl import URL

from providers.base import Timeouts


def new_session(timeouts: Timeouts, limit: int = 1000) -> aiohttp.ClientSession:
    """The production transport."""
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ttl_dns_cache=300,
                                     enable_cleanup_closed=True)
    # Per-request timeouts are passed on each call; this one is only the safety net.
    timeout = aiohttp.ClientTimeout(total=None, connect=timeouts.connect)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=True,
                                 skip_auto_headers=("User-Agent",))


def request_timeout(timeouts: Timeouts) -> aiohttp.ClientTimeout:
    """Headers must arrive within first_byte; each later read within idle."""
    return aiohttp.ClientTimeout(
        total=timeouts.total, sock_connect=timeouts.connect,
        sock_read=max(timeouts.first_byte, timeouts.idle),
    )


# -- the I/O seam ----------------------------------------------------------------------
# A provider sends every request through a Transport. In production that is the pooled
# aiohttp.ClientSession itself (its `post` is called directly: nothing sits in between on
# the hot path); a test passes `transport=lambda timeouts: MockTransport(handler)` and
# answers requests from a function, without a socket, as httpx's MockTransport does.


class UpstreamBody(Protocol):
    async def readline(self) -> bytes: ...
    async def readany(self) -> bytes: ...
    def is_eof(self) -> bool: ...          # the whole body has arrived (it may not be read yet)


class UpstreamResponse(Protocol):
    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def content(self) -> UpstreamBody: ...
    async def read(self) -> bytes: ...
    def release(self) -> Any: ...
    def close(self) -> None: ...


class Transport(Protocol):
    def post(self, url: str | URL, *, data: bytes, headers: Mapping[str, str],
             timeout: aiohttp.ClientTimeout) -> Awaitable[UpstreamResponse]: ...
    async def close(self) -> None: ...


TransportFactory = Callable[[Timeouts], Transport]


@dataclass(frozen=True, slots=True)
class MockRequest:
    url: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class _Lines:
    """A response body read as aiohttp's StreamReader is: by line, or by what has arrived."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = list(chunks)
        self._buffer = b""

    async def readline(self) -> bytes:
        while b"\n" not in self._buffer and self._chunks:
            self._buffer += self._chunks.pop(0)
        line, sep, rest = self._buffer.partition(b"\n")
        self._buffer = rest
        return line + sep

    async def readany(self) -> bytes:
        if self._buffer:
            data, self._buffer = self._buffer, b""
            return data
        return self._chunks.pop(0) if self._chunks else b""

    def is_eof(self) -> bool:
        return False   # as a body still arriving: read under the deadline, like a slow upstream's


class MockResponse:
    """An answer of a MockTransport: `body` whole, or `chunks` as they would arrive."""

    def __init__(self, status: int = 200, *, json: Any = None, body: bytes = b"",
                 chunks: Iterable[bytes] | None = None, headers: Mapping[str, str] | None = None) -> None:
        if json is not None:
            body = orjson.dumps(json)
        self.status = status
        self.headers: Mapping[str, str] = CIMultiDict(
            {"Content-Type": "application/json" if json is not None else "application/octet-stream",
             **(headers or {})})
        self.content: UpstreamBody = _Lines(chunks if chunks is not None else [body])
        self._body = body if chunks is None else b"".join(chunks)
        self.released = self.closed = False

    async def read(self) -> bytes:
        return self._body

    def release(self) -> None:
        self.released = True

    def close(self) -> None:
        self.closed = True


class MockTransport:
    """Answers every request with `handler(request)` (a MockResponse, or raises as the network would)."""

    def __init__(self, handler: Callable[[MockRequest], MockResponse | Awaitable[MockResponse]]) -> None:
        self.handler = handler
        self.requests: list[MockRequest] = []
        self.closed = False

    async def post(self, url: str | URL, *, data: bytes, headers: Mapping[str, str],
                   timeout: aiohttp.ClientTimeout) -> MockResponse:  # noqa: ASYNC109 (aiohttp's signature)
        request = MockRequest(str(url), dict(headers), data)
        self.requests.append(request)
        answer = self.handler(request)
        return await answer if inspect.isawaitable(answer) else answer

    async def close(self) -> None:
        self.closed = True
