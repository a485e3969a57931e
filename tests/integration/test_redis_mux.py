"""The request path's pipelined Redis client against real redis-server processes (and two
loopback servers that misbehave on purpose): replies reach their own callers under
concurrency, errors keep redis-py's classes, a stuck server times out once and is then failed
fast until a background probe finds it answering, a restart costs no command, AUTH and SELECT
from the URL."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.redis_mux import MultiplexedRedis
from tests.conftest import unique
from tests.support.redis_cluster import RedisServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def server(private_redis: RedisServer) -> RedisServer:
    return private_redis


@pytest.fixture
async def client(server: RedisServer) -> AsyncIterator[MultiplexedRedis]:
    mux = MultiplexedRedis.from_url(server.url, connect_timeout=1, read_timeout=1)
    yield mux
    await mux.aclose()


async def answering(client: MultiplexedRedis, within: float = 5.0) -> float:
    """Seconds until the client answers again (its background probe reconnected)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        try:
            assert await client.ping()
            return loop.time() - started
        except (RedisConnectionError, RedisTimeoutError):
            if loop.time() - started > within:
                raise
            await asyncio.sleep(0.05)


@pytest.mark.slow   # 4,000 commands
async def test_concurrent_callers_each_get_their_own_reply(client: MultiplexedRedis) -> None:
    prefix = unique()
    values = {f"{prefix}:{i}": os.urandom(i % 300 + 1) for i in range(2000)}
    await asyncio.gather(*(client.set(key, value, ex=60) for key, value in values.items()))
    keys = list(values)
    replies = await asyncio.gather(*(client.get(key) for key in keys))
    assert replies == [values[key] for key in keys]
    assert await client.get(f"{prefix}:missing") is None


async def test_error_replies_raise_redis_py_classes_and_the_connection_goes_on(client: MultiplexedRedis) -> None:
    with pytest.raises(NoScriptError):
        await client.evalsha("0" * 40, 0)
    key = unique()
    await client.xadd(key, {b"r": b"x"})
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await client.get(key)                            # a stream is no string
    assert await client.eval("return ARGV[1] + 1", 0, 41) == 42
    assert await client.ping()


async def test_xadd_trims_with_maxlen(client: MultiplexedRedis, server: RedisServer) -> None:
    key = unique()
    for i in range(5):
        entry_id = await client.xadd(key, {b"n": i}, maxlen=2, approximate=False)
        assert entry_id.count(b"-") == 1
    admin = Redis.from_url(server.url)
    try:
        entries = await admin.xrange(key)
        assert [fields[b"n"] for _, fields in entries] == [b"3", b"4"]  # type: ignore[union-attr, index]
    finally:
        await admin.aclose()


async def test_a_cancelled_caller_does_not_shift_the_replies_of_the_others(client: MultiplexedRedis) -> None:
    prefix = unique()
    await asyncio.gather(*(client.set(f"{prefix}:{i}", str(i)) for i in range(50)))
    connection_id = await client.execute_command("CLIENT", "ID")
    gets = [asyncio.ensure_future(client.get(f"{prefix}:{i}")) for i in range(50)]
    await asyncio.sleep(0)
    for task in gets[::3]:
        task.cancel()
    done = await asyncio.gather(*gets, return_exceptions=True)
    for i, reply in enumerate(done):
        if i % 3:
            assert reply == str(i).encode()
    assert await client.get(f"{prefix}:7") == b"7"
    assert await client.execute_command("CLIENT", "ID") == connection_id   # on the same connection


async def test_a_stuck_server_times_out_every_pending_caller_then_recovers(
        client: MultiplexedRedis, server: RedisServer) -> None:
    assert await client.ping()
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)            # alive, connected, silent
    try:
        started = asyncio.get_running_loop().time()
        results = await asyncio.gather(*(client.get(unique()) for _ in range(20)), return_exceptions=True)
        waited = asyncio.get_running_loop().time() - started
        assert all(isinstance(r, RedisTimeoutError) for r in results), results
        assert 0.9 <= waited < 3
        # Down now: every command fails at once, not after another timeout each. The probe's
        # connection is accepted (by the kernel) but its PING goes unanswered: still down.
        for _ in range(3):
            started = asyncio.get_running_loop().time()
            with pytest.raises(RedisConnectionError, match="unavailable"):
                await client.get(unique())
            assert asyncio.get_running_loop().time() - started < 0.05
            await asyncio.sleep(0.6)
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    assert await answering(client) < 3                      # the probe's new connection


async def test_another_client_of_the_same_server_fails_fast_too(client: MultiplexedRedis,
                                                                 server: RedisServer) -> None:
    """The limiter's, the cache's and the usage outbox's clients share what one learns, so a
    request pays one timeout during a partition, not one per store."""
    other = MultiplexedRedis.from_url(server.url, connect_timeout=1, read_timeout=1)
    try:
        assert await client.ping() and await other.ping()
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            with pytest.raises(RedisTimeoutError):
                await client.get(unique())
            started = asyncio.get_running_loop().time()
            with pytest.raises(RedisConnectionError):
                await other.get(unique())
            assert asyncio.get_running_loop().time() - started < 0.05
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        await answering(client)
        assert await other.ping()              # its connection from before the outage is replaced
    finally:
        await other.aclose()


async def test_the_clients_of_one_server_share_one_connection_and_one_send(server: RedisServer) -> None:
    """The limiter's, the cache's and the usage appender's commands of one event-loop turn
    go out in one send on one connection, and each reply still reaches its own caller."""
    limiter = MultiplexedRedis.from_url(server.url, connect_timeout=1, read_timeout=2)
    cache = MultiplexedRedis.from_url(server.url, connect_timeout=0.5, read_timeout=1)
    try:
        assert await limiter.execute_command("CLIENT", "ID") == await cache.execute_command("CLIENT", "ID")
        connection = limiter._server.connection if limiter._server is not None else None
        assert connection is not None and connection._transport is not None
        sends: list[int] = []
        transport = connection._transport
        writelines = transport.writelines

        def counted(data: list[bytes]) -> None:
            sends.append(len(data))
            writelines(data)
        connection._transport = SimpleNamespace(writelines=counted, abort=transport.abort)  # type: ignore[assignment]
        key = unique()
        got, stored, counted_to = await asyncio.gather(cache.get(key), cache.set(key, b"v"), limiter.eval(
            "return redis.call('INCR', KEYS[1])", 1, key + ":n"))
        assert (got, stored, counted_to) == (None, True, 1)
        assert sends == [3]
        connection._transport = transport
        assert await limiter.get(key) == b"v"
    finally:
        await limiter.aclose()
        await cache.aclose()


async def test_a_closed_client_leaves_the_shared_connection_to_the_others(server: RedisServer) -> None:
    first = MultiplexedRedis.from_url(server.url, connect_timeout=1, read_timeout=1)
    second = MultiplexedRedis.from_url(server.url, connect_timeout=1, read_timeout=1)
    try:
        connection_id = await first.execute_command("CLIENT", "ID")
        assert await second.execute_command("CLIENT", "ID") == connection_id
        await first.aclose()
        with pytest.raises(RedisConnectionError):
            await first.ping()
        assert await second.execute_command("CLIENT", "ID") == connection_id   # not closed with the first
    finally:
        await first.aclose()
        await second.aclose()


async def test_each_client_keeps_its_own_timeout_on_the_shared_connection(server: RedisServer) -> None:
    """A stuck server: the command of the client with the shorter timeout fails at its own
    deadline, though a command with a longer one was sent before it."""
    patient = MultiplexedRedis.from_url(server.url, connect_timeout=1, read_timeout=5)
    hasty = MultiplexedRedis.from_url(server.url, connect_timeout=1, read_timeout=0.5)
    try:
        assert await patient.ping() and await hasty.ping()
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            slow = asyncio.ensure_future(patient.get(unique()))
            await asyncio.sleep(0.05)
            with pytest.raises(RedisTimeoutError):
                await hasty.get(unique())
            assert 0.4 <= loop.time() - started < 2
            with pytest.raises((RedisTimeoutError, RedisConnectionError)):
                await slow                      # the connection was stuck for both
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        await answering(patient)
        assert await hasty.ping()
    finally:
        await patient.aclose()
        await hasty.aclose()


async def test_a_restarted_server_costs_no_command(client: MultiplexedRedis, server: RedisServer) -> None:
    key = unique()
    await client.set(key, b"before")
    server.stop()
    with pytest.raises(RedisConnectionError):
        await client.get(key)                               # refused while it is down
    server.start()
    await answering(client)                                 # back within the probe's interval
    assert await client.get(key) is None                    # nothing kept on disk; answered
    await client.set(key, b"after")
    server.stop()
    server.start()                                          # no command while it was down
    assert await client.get(key) is None                    # the dead connection is replaced at once


async def test_refused_connection_is_a_connection_error(server: RedisServer) -> None:
    port = server.port
    server.stop()
    mux = MultiplexedRedis("127.0.0.1", port, connect_timeout=1, read_timeout=1)
    try:
        with pytest.raises(RedisConnectionError):
            await mux.ping()
    finally:
        await mux.aclose()


async def test_auth_and_database_from_the_url(server: RedisServer) -> None:
    admin = Redis.from_url(server.url)
    await admin.config_set("requirepass", "s3cret#pw")
    mux = MultiplexedRedis.from_url(f"redis://:s3cret%23pw@127.0.0.1:{server.port}/3", connect_timeout=1,
                                    read_timeout=1)
    wrong = MultiplexedRedis.from_url(f"redis://:nope@127.0.0.1:{server.port}/0", connect_timeout=1,
                                      read_timeout=1)
    try:
        key = unique()
        await mux.set(key, b"in-db-3")
        authed = Redis.from_url(f"redis://:s3cret%23pw@127.0.0.1:{server.port}/3")
        assert await authed.get(key) == b"in-db-3"
        await authed.aclose()
        with pytest.raises(ResponseError):
            await wrong.ping()
    finally:
        await mux.aclose()
        await wrong.aclose()
        await admin.aclose()


async def _serve(handler: object) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)  # type: ignore[arg-type]
    return server, server.sockets[0].getsockname()[1]


async def test_a_server_speaking_garbage_is_a_connection_error() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"!not redis\r\n")
        await writer.drain()
        await asyncio.sleep(1)
        writer.close()

    server, port = await _serve(garbage)
    mux = MultiplexedRedis("127.0.0.1", port, connect_timeout=1, read_timeout=2)
    try:
        with pytest.raises(RedisConnectionError, match="protocol"):
            await mux.ping()
    finally:
        await mux.aclose()
        server.close()


async def test_a_closed_client_refuses_commands(client: MultiplexedRedis) -> None:
    assert await client.ping()
    await client.aclose()
    with pytest.raises(RedisConnectionError):
        await client.ping()


def test_which_urls_it_takes() -> None:
    assert MultiplexedRedis.handles("redis://h:6379/0") and MultiplexedRedis.handles("rediss://h:6380/0")
    assert not MultiplexedRedis.handles("unix:///var/run/redis.sock")
