"""A Redis client for the request path: every command of the process to one server on one
connection, pipelined. Commands are written as they come (the writes of one event-loop turn
go out in one send) and replies are matched to callers in order, as Redis answers in order.

The clients of one server on one event loop -- the limiter's, the cache's, the usage
appender's -- share that connection, each with its own timeouts: a request's commands to
all three then go out in as few sends as there are turns that issue them (the finishers'
settle, cache write and usage XADD in one), and each send wakes Redis and each reply wakes
the gateway once, not once per store. Per request that was five sends and five reads on
three connections, now three of each (`python -m bench.profile --against`: ~14% less CPU
per request at 300 req/s).

Why not redis-py for these: its asyncio client spends ~70 us of CPU per command here (a
connection checked out of a pool and back, a retry wrapper, response-callback lookups),
this one 4-7 us (`python -m bench.redis_client`). The gateway sends
five commands per request -- reserve, cache read, cache write, settle, usage XADD -- so
that was a quarter of its CPU. redis-py stays for everything else: cluster mode, blocking
reads, pub/sub, admin paths.

Failure behaviour is redis-py's, with its exception classes, so every store's outage
handling applies unchanged:
- no connection within `connect_timeout`: ConnectionError (or TimeoutError) to the caller;
  the next command tries again;
- a reply later than its client's `read_timeout`: the connection is stuck (replies come in
  order, so every command behind it is too), it is dropped and every pending caller gets
  TimeoutError;
- the connection lost: every pending caller gets ConnectionError. A command that fails so
  on a connection that had worked is sent once more on a new one (a Redis restart kills
  the connection; the first command after it should not fail for that). Every command the
  gateway sends here may be repeated: scripts are idempotent by reservation id, a repeated
  usage XADD is absorbed by the idempotent insert.

Once Redis has failed so (no connection, or a stuck one), the client is *down*: every
command fails at once with ConnectionError, and a background probe reconnects every
`retry_interval` (a connection counts only once it answers a PING, so a partition that
accepts the TCP handshake and then swallows every byte is not mistaken for a recovery).
Without this, a silent partition cost every request each of its commands' timeouts in turn
(7 s a request, measured); now it costs the requests in flight when it began one timeout.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import weakref
from collections import deque
from collections.abc import Mapping
from typing import Any, cast

import hiredis
from redis.asyncio.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Arg = str | bytes | int | float


class _ReplyError(Exception):
    """An error reply as hiredis hands it over; turned into redis-py's class by `_error`."""


def _pack(command: tuple[Arg, ...]) -> bytes:
    # hiredis's stub types the tuple as having one element
    packed: bytes = hiredis.pack_command(command)  # type: ignore[arg-type]
    return packed


def _error(reply: _ReplyError) -> ResponseError:
    text = str(reply)
    if text.startswith("NOSCRIPT"):
        return NoScriptError(text)
    return ResponseError(text)


class _Connection(asyncio.Protocol):
    """One connection: a queue of callers waiting for replies, oldest first."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._reader = hiredis.Reader(replyError=_ReplyError)
        self._waiting: deque[tuple[asyncio.Future[Any], float]] = deque()   # (caller, reply deadline)
        self._outgoing: list[bytes] = []
        self._transport: asyncio.Transport | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._watch_at = math.inf      # when the watchdog fires: the earliest deadline it knows of
        self.closed_by: Exception | None = None
        self.answered = False          # a reply arrived: the connection worked once

    @property
    def alive(self) -> bool:
        return self.closed_by is None and self._transport is not None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)   # uvloop's is no subclass of it

    def call(self, packed: bytes, timeout: float | None) -> asyncio.Future[Any]:
        """Sends the command (with the others of this event-loop turn); the future gets its
        reply, or TimeoutError when none came within `timeout` seconds (None: no limit)."""
        future: asyncio.Future[Any] = self._loop.create_future()
        if self.closed_by is not None:
            future.set_exception(self.closed_by)
            return future
        deadline = self._loop.time() + timeout if timeout is not None else math.inf
        self._waiting.append((future, deadline))
        if not self._outgoing:
            self._loop.call_soon(self._flush)
        self._outgoing.append(packed)
        if deadline < self._watch_at:    # clients with shorter timeouts share the connection
            self._watch(deadline)
        return future

    def _watch(self, deadline: float) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._watch_at = deadline
        self._watchdog = self._loop.call_at(deadline, self._check_deadlines)

    def _flush(self) -> None:
        if self._outgoing and self._transport is not None and self.closed_by is None:
            self._transport.writelines(self._outgoing)
        self._outgoing = []

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        try:
            while (reply := self._reader.gets()) is not False:
                future, _ = self._waiting.popleft()
                self.answered = True
                if future.done():      # its caller was cancelled; the reply is dropped
                    continue
                if isinstance(reply, _ReplyError):
                    future.set_exception(_error(reply))
                else:
                    future.set_result(reply)
        except (hiredis.ProtocolError, IndexError) as exc:   # garbage, or a reply nobody asked for
            self.abort(RedisConnectionError(f"Redis protocol error: {type(exc).__name__}"))

    def _check_deadlines(self) -> None:
        """Replies come in order, so a command past its deadline means a stuck connection,
        whichever client's command it is (commands of clients with different timeouts
        interleave: the earliest deadline is not always the oldest command's)."""
        self._watchdog, self._watch_at = None, math.inf
        if not self._waiting or self.closed_by is not None:
            return
        earliest = min(deadline for _, deadline in self._waiting)
        if earliest <= self._loop.time():
            self.abort(RedisTimeoutError("Timeout reading from Redis"))
        elif earliest < math.inf:
            self._watch(earliest)

    def connection_lost(self, exc: Exception | None) -> None:
        self.abort(RedisConnectionError("Connection closed by Redis" if exc is None
                                        else f"Connection to Redis lost: {type(exc).__name__}"))

    def abort(self, error: Exception) -> None:
        if self.closed_by is None:
            self.closed_by = error
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog, self._watch_at = None, math.inf
        while self._waiting:
            future, _ = self._waiting.popleft()
            if not future.done():
                future.set_exception(type(error)(*error.args))
        if self._transport is not None:
            self._transport.abort()


class _Server:
    """One Redis server as every client of it on one event loop sees it (the limiter's, the
    cache's, the usage outbox's): the connection they share, and whether the server is down
    -- one client that finds it unreachable makes the others fail fast too, so a request pays
    one timeout, not one per store. `epoch` counts the outages: a connection opened before
    the latest is not trusted after it. The connection is closed with the last open client."""

    def __init__(self) -> None:
        self.down: Exception | None = None
        self.epoch = 0
        self.probe: asyncio.Task[None] | None = None
        self.connection: _Connection | None = None
        self.connection_epoch = 0       # the outage count when the connection was opened
        self.connecting: asyncio.Lock | None = None
        self.clients = 0

    def usable(self) -> _Connection | None:
        connection = self.connection
        if connection is not None and connection.alive and self.connection_epoch == self.epoch:
            return connection
        return None


_ServerKey = tuple[str, int, int, str | None, str | None, bool]
_SERVERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[_ServerKey, _Server]] = (
    weakref.WeakKeyDictionary())


def _server_of(key: _ServerKey) -> _Server:
    servers = _SERVERS.setdefault(asyncio.get_running_loop(), {})
    return servers.setdefault(key, _Server())


class MultiplexedRedis:
    """The subset of redis-py's asyncio `Redis` the request path uses, on the connection
    every client of the same server (and credentials) shares on this event loop."""

    def __init__(self, host: str, port: int = 6379, *, db: int = 0, username: str | None = None,
                 password: str | None = None, ssl_context: ssl.SSLContext | None = None,
                 connect_timeout: float = 2.0, read_timeout: float | None = 2.0,
                 retry_interval: float = 0.5) -> None:
        self._host, self._port, self._db = host, port, db
        self._username, self._password, self._ssl = username, password, ssl_context
        self._connect_timeout, self._read_timeout = connect_timeout, read_timeout
        self._retry_interval = retry_interval
        self._closed = False
        self._server: _Server | None = None   # bound on first use (it belongs to the running loop)

    @classmethod
    def from_url(cls, url: str, *, connect_timeout: float, read_timeout: float | None) -> MultiplexedRedis:
        """redis:// and rediss:// URLs (user, password, db, `ssl_cert_reqs`)."""
        parts = parse_url(url)
        context = None
        if parts.get("connection_class") is SSLConnection:
            context = ssl.create_default_context()
            if str(parts.get("ssl_cert_reqs", "required")).lower() in ("none", "cert_none"):
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        return cls(parts.get("host", "localhost"), int(parts.get("port", 6379)), db=int(parts.get("db", 0)),
                   username=parts.get("username"), password=parts.get("password"), ssl_context=context,
                   connect_timeout=connect_timeout, read_timeout=read_timeout)

    @staticmethod
    def handles(url: str) -> bool:
        """Whether `from_url` takes this URL (others -- unix sockets -- stay with redis-py)."""
        return url.startswith(("redis://", "rediss://"))

    @property
    def is_down(self) -> bool:
        return self._server is not None and self._server.down is not None

    def _bind(self) -> _Server:
        if self._closed:
            raise RedisConnectionError("client closed")
        server = _server_of((self._host, self._port, self._db, self._username, self._password,
                             self._ssl is not None))
        server.clients += 1
        self._server = server
        return server

    async def execute_command(self, *args: Arg) -> Any:
        server = self._server
        if server is None or self._closed:
            server = self._bind()
        if server.down is not None:
            raise RedisConnectionError(f"Redis unavailable ({server.down}); reconnecting in the background")
        packed = _pack(args)
        try:
            connection = server.usable() or await self._connected(server)
            try:
                return await connection.call(packed, self._read_timeout)
            except RedisConnectionError:
                if not connection.answered:
                    raise
            # The connection had worked and died under this command: once more on a new one.
            connection = await self._connected(server)
            return await connection.call(packed, self._read_timeout)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            self._fail_fast_from_now(server, exc)
            raise

    def _fail_fast_from_now(self, server: _Server, error: Exception) -> None:
        if self._closed or server.down is not None:
            return
        server.down = error
        server.epoch += 1
        server.probe = asyncio.get_running_loop().create_task(self._reconnect(server))

    async def _reconnect(self, server: _Server) -> None:
        """Every `retry_interval`, a new connection that must answer a PING; then the server
        is up again for every client of it (while any is open)."""
        while server.clients > 0:
            await asyncio.sleep(self._retry_interval)
            try:
                connection = await self._open()
            except (RedisConnectionError, RedisTimeoutError, OSError):
                continue
            try:
                async with asyncio.timeout(self._connect_timeout):
                    await connection.call(_pack(("PING",)), None)
            except (RedisConnectionError, RedisTimeoutError, TimeoutError, ResponseError):
                connection.abort(RedisConnectionError("probe failed"))
                continue
            if server.clients == 0:
                connection.abort(RedisConnectionError("client closed"))
                return
            old, server.connection = server.connection, connection
            if old is not None:
                old.abort(RedisConnectionError("replaced"))
            server.connection_epoch = server.epoch
            server.down = None
            return

    async def _connected(self, server: _Server) -> _Connection:
        """The shared connection, opened (again) if there is none, it died, or it was opened
        before the latest outage (one another client noticed, maybe): a connection from
        before may be one a partition silently swallows."""
        if self._closed:
            raise RedisConnectionError("client closed")
        connection = server.usable()
        if connection is not None:
            return connection
        if server.connecting is None:
            server.connecting = asyncio.Lock()
        async with server.connecting:     # one connect at a time; the others wait for it
            connection = server.usable()
            if connection is not None:
                return connection
            if server.connection is not None:
                server.connection.abort(RedisConnectionError("opened before an outage"))
            server.connection = connection = await self._open()
            server.connection_epoch = server.epoch
            return connection

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        hello: list[tuple[Arg, ...]] = []
        if self._password is not None:
            hello.append(("AUTH", self._username, self._password) if self._username else ("AUTH", self._password))
        if self._db:
            hello.append(("SELECT", self._db))
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(_Connection, self._host, self._port, ssl=self._ssl)
        except TimeoutError as exc:
            raise RedisTimeoutError("Timeout connecting to Redis") from exc
        except OSError as exc:
            raise RedisConnectionError(f"Error connecting to Redis: {type(exc).__name__}") from exc
        try:
            async with asyncio.timeout(self._connect_timeout):
                for command in hello:
                    await connection.call(_pack(command), None)
        except BaseException as exc:
            connection.abort(RedisConnectionError("handshake failed"))
            if isinstance(exc, TimeoutError):
                raise RedisTimeoutError("Timeout connecting to Redis") from exc
            raise
        return connection

    # -- the commands the request path sends ----------------------------------------

    async def get(self, name: str) -> bytes | None:
        reply: bytes | None = await self.execute_command("GET", name)
        return reply

    async def set(self, name: str, value: bytes | str, ex: int | None = None) -> bool:
        args: tuple[Arg, ...] = ("SET", name, value) if ex is None else ("SET", name, value, "EX", ex)
        return bool(await self.execute_command(*args))

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Arg) -> Any:
        return await self.execute_command("EVALSHA", sha, numkeys, *keys_and_args)

    async def eval(self, script: str, numkeys: int, *keys_and_args: Arg) -> Any:
        return await self.execute_command("EVAL", script, numkeys, *keys_and_args)

    async def xadd(self, name: str, fields: Mapping[bytes | str, Arg], id: str = "*",
                   maxlen: int | None = None, approximate: bool = True) -> bytes:
        args: list[Arg] = ["XADD", name]
        if maxlen is not None:
            args.extend(("MAXLEN", "~", maxlen) if approximate else ("MAXLEN", maxlen))
        args.append(id)
        for field, value in fields.items():
            args.extend((field, value))
        reply: bytes = await self.execute_command(*args)
        return reply

    async def ping(self) -> bool:
        return bool(await self.execute_command("PING"))

    async def aclose(self) -> None:
        """Closes this client; the shared connection closes with the last client of it."""
        if self._closed:
            return
        self._closed = True
        server, self._server = self._server, None
        if server is None:
            return
        server.clients -= 1
        if server.clients == 0 and server.connection is not None:
            server.connection.abort(RedisConnectionError("client closed"))
            server.connection = None
