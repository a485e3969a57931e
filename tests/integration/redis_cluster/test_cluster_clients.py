"""The clients of gateway.redis_client on a real three-node Redis Cluster: classic pub/sub is
broadcast over the whole cluster (so one plain connection per subscriber is enough), an
unreachable cluster is an ordinary Redis connection error that the stores degrade on, a
burst of concurrent calls waits for connections instead of failing, and every Lua script
of the gateway touches keys of one slot."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.cache.store import RedisCacheStore
from gateway.db import create_engine
from gateway.redis_client import PUBLISHER, SHARED, SUBSCRIBER, Client, ClientOptions, command_client, node_client
from gateway.routing import breaker_sync
from gateway.tenancy.changes import Change, ChangeFeed, ChangeKind
from gateway.usage.record import UsageRecord
from gateway.usage.redis_outbox import RedisStreamOutbox, StreamConfig
from tests.conftest import REDIS_URL, require_redis, unique
from tests.support.redis_cluster import RedisClusterNodes
from tests.support.threads import free_port


async def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


@pytest.fixture
async def node_clients(redis_cluster: RedisClusterNodes) -> AsyncIterator[list[Redis]]:
    """One plain client per node, as a subscriber or publisher of the gateway has."""
    clients = [node_client(node.url, SUBSCRIBER) for node in redis_cluster.nodes]
    yield clients
    for client in clients:
        await client.aclose()


def keys_on_every_node(client: Client, count: int = 3) -> list[str]:
    """Keys whose slots lie on `count` different primaries."""
    assert not isinstance(client, Redis)
    by_node: dict[str, str] = {}
    for i in range(10_000):
        key = f"probe:{i}"
        node = client.get_node_from_key(key)
        assert node is not None
        by_node.setdefault(node.name, key)
        if len(by_node) == count:
            return list(by_node.values())
    raise AssertionError("keys did not spread over the nodes")


async def test_a_publish_on_any_node_reaches_subscribers_on_every_node(
        redis_cluster: RedisClusterNodes, node_clients: list[Redis], cluster_client: Client) -> None:
    channel = unique("chan")
    subscriptions = [client.pubsub() for client in node_clients]
    for pubsub in subscriptions:
        await pubsub.subscribe(channel)
    received: list[set[str]] = [set() for _ in subscriptions]

    async def collect(i: int) -> None:
        while len(received[i]) < 6:
            message = await subscriptions[i].get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                received[i].add(message["data"].decode())

    collectors = [asyncio.create_task(collect(i)) for i in range(len(subscriptions))]
    try:
        await asyncio.sleep(0.1)
        for i, node in enumerate(redis_cluster.nodes):          # a plain PUBLISH on each node
            publisher = node_client(node.url, PUBLISHER)
            try:
                await publisher.publish(channel, f"plain-{i}")
            finally:
                await publisher.aclose()
        await cluster_client.initialize()
        for i, key in enumerate(keys_on_every_node(cluster_client)):   # PUBLISH inside a script, as the breakers do
            await cluster_client.eval("redis.call('PUBLISH', ARGV[1], ARGV[2]) return 1", 1, key, channel,
                                      f"script-{i}")
        await asyncio.wait_for(asyncio.gather(*collectors), 10)
    finally:
        for task in collectors:
            task.cancel()
        for pubsub in subscriptions:
            await pubsub.aclose()
    expected = {f"plain-{i}" for i in range(3)} | {f"script-{i}" for i in range(3)}
    assert received == [expected, expected, expected]


async def test_a_tenancy_change_published_on_one_node_reaches_a_replica_subscribed_on_another(
        redis_cluster: RedisClusterNodes) -> None:
    seen: list[Change] = []
    replica = ChangeFeed(redis_cluster.nodes[2].url, seen.append)
    cli = ChangeFeed(redis_cluster.nodes[0].url, apply=None)
    await replica.start()
    try:
        assert replica.subscribed.is_set()
        await cli.publish(Change(ChangeKind.KEY, "key_cluster"))
        await wait_until(lambda: Change(ChangeKind.KEY, "key_cluster") in seen)
    finally:
        await replica.close()
        await cli.close()


@pytest.fixture
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(sqlite_url)
    yield engine
    await engine.dispose()


async def test_an_unreachable_cluster_is_a_connection_error_that_every_store_degrades_on(
        sqlite_engine: AsyncEngine) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"                 # nothing listens there
    quick = ClientOptions(connect_timeout=0.2, read_timeout=0.2)
    client = command_client(url, cluster=True, options=quick)
    cache = RedisCacheStore.from_url(url, cluster=True)
    outbox = RedisStreamOutbox(client, sqlite_engine, StreamConfig(key=unique("gw:usage:test:"), group="g",
                                                                   consumer="c"))
    try:
        with pytest.raises(RedisConnectionError):               # a RedisError, like one server's outage
            await client.get("anything")
        assert await cache.get("k") is None                     # a miss, not an exception
        await cache.set("k", b"v", 10)
        await outbox.append(UsageRecord(request_id=unique(), tenant="t", status="ok", http_status=200))
        assert await outbox.pending() == 1                      # kept in process meanwhile
    finally:
        await cache.close()
        await client.aclose()


@pytest.mark.parametrize("mode", ["server", "cluster"])
async def test_300_concurrent_calls_on_the_shared_client_wait_for_connections_instead_of_failing(
        mode: str, request: pytest.FixtureRequest) -> None:
    if mode == "server":
        require_redis()
        client = command_client(REDIS_URL, cluster=False, options=SHARED)
    else:
        cluster: RedisClusterNodes = request.getfixturevalue("redis_cluster")
        client = command_client(cluster.url, cluster=True, options=SHARED)
    prefix = unique("burst")
    try:
        # Each call holds its connection for 0.2 s (a blocking pop on an empty list), so all
        # 300 want one at the same time: more than redis-py's default pool of 100 allows.
        replies = await asyncio.wait_for(
            asyncio.gather(*(client.blpop([f"{prefix}:{i}"], timeout=0.2) for i in range(300))), 30)
    finally:
        await client.aclose()
    assert replies == [None] * 300


def script_keys(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"KEYS\[(\d+)\]", text)}


def test_every_breaker_script_touches_one_key() -> None:
    # (The limiter's scripts carry the `{tenant}` tag on every key: tests/integration/limits.)
    for text in (breaker_sync._TRANSITION, breaker_sync._CLAIM, breaker_sync._PROBE_OK):
        assert script_keys(text) == {1}
        assert "'KEYS'" not in text and "'SCAN'" not in text      # no keys found at run time either
