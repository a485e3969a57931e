"""The change feed over real Redis: every subscriber applies a published change, foreign
messages are ignored, and a subscriber that loses Redis reconnects, drops its whole cache
(it may have missed changes) and hears changes again."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from redis.asyncio import Redis

from gateway.tenancy.changes import CHANNEL, Change, ChangeFeed, ChangeKind
from tests.support.threads import free_port


async def until(condition: Callable[[], bool], within: float = 5.0) -> float:
    """Polls `condition` (bounded by `within` seconds); returns how long it took."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < within, "condition not met in time"
        await asyncio.sleep(0.005)
    return time.monotonic() - started


@pytest.fixture
async def feeds(redis_url: str) -> AsyncIterator[tuple[list[Change], list[Change], ChangeFeed]]:
    seen_a: list[Change] = []
    seen_b: list[Change] = []
    a, b = ChangeFeed(redis_url, seen_a.append), ChangeFeed(redis_url, seen_b.append)
    cli = ChangeFeed(redis_url, apply=None)      # publishes only, as the CLI does
    await a.start()
    await b.start()
    assert a.subscribed.is_set() and b.subscribed.is_set()
    try:
        yield seen_a, seen_b, cli
    finally:
        for feed in (a, b, cli):
            await feed.close()


async def test_every_subscriber_applies_a_published_change(feeds: tuple[list[Change], list[Change], ChangeFeed]) -> None:
    seen_a, seen_b, cli = feeds
    assert seen_a == [Change(ChangeKind.ALL)] == seen_b     # subscribing drops whatever was cached
    change = Change(ChangeKind.KEY, "key_feedtest")
    await cli.publish(change)
    elapsed = await until(lambda: change in seen_a and change in seen_b)
    assert elapsed < 1.0


async def test_a_publisher_applies_its_own_change_at_once(redis_url: str) -> None:
    seen: list[Change] = []
    feed = ChangeFeed(redis_url, seen.append)
    try:
        await feed.publish(Change(ChangeKind.TENANT, "ten_x"))     # not started: no subscription
        assert seen == [Change(ChangeKind.TENANT, "ten_x")]
    finally:
        await feed.close()


async def test_without_redis_a_change_applies_in_process_only() -> None:
    seen: list[Change] = []
    feed = ChangeFeed(None, seen.append)
    await feed.start()
    await feed.publish(Change(ChangeKind.KEY, "key_1"))
    assert seen == [Change(ChangeKind.KEY, "key_1")]
    await feed.close()


async def test_foreign_messages_on_the_channel_are_ignored(redis_url: str,
                                                           feeds: tuple[list[Change], list[Change], ChangeFeed]) -> None:
    seen_a, _, cli = feeds
    raw = Redis.from_url(redis_url)
    try:
        await raw.publish(CHANNEL, b"garbage")
        await raw.publish(CHANNEL, b'{"kind": "nope"}')
    finally:
        await raw.aclose()
    marker = Change(ChangeKind.KEY, "key_after_garbage")
    await cli.publish(marker)
    await until(lambda: marker in seen_a)
    assert seen_a == [Change(ChangeKind.ALL), marker]


async def test_publishing_with_redis_down_does_not_fail_the_change() -> None:
    seen: list[Change] = []
    feed = ChangeFeed(f"redis://127.0.0.1:{free_port()}/0", seen.append)   # nothing listens there
    await feed.start(wait_seconds=0.2)
    await feed.publish(Change(ChangeKind.KEY, "key_1"))
    assert seen[-1] == Change(ChangeKind.KEY, "key_1")
    await feed.close()


class PrivateRedis:
    """A redis-server of our own on a free loopback port, to stop and restart."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from redis import Redis as SyncRedis
        deadline = time.monotonic() + 10
        while True:
            try:
                SyncRedis.from_url(self.url, socket_connect_timeout=0.2).ping()
                return
            except Exception:
                assert time.monotonic() < deadline, "private redis-server did not start"
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_a_subscriber_reconnects_after_redis_drops(private_redis: PrivateRedis) -> None:
    seen: list[Change] = []
    replica = ChangeFeed(private_redis.url, seen.append)
    cli = ChangeFeed(private_redis.url, apply=None)
    await replica.start()
    try:
        assert replica.resubscriptions == 1
        private_redis.stop()
        await until(lambda: not replica.subscribed.is_set())
        private_redis.start()                                       # same port, nothing remembered
        await until(lambda: replica.resubscriptions == 2, within=10)
        assert seen.count(Change(ChangeKind.ALL)) == 2               # the cache was dropped on return
        change = Change(ChangeKind.KEY, "key_after_outage")
        await cli.publish(change)
        await until(lambda: change in seen)
    finally:
        await replica.close()
        await cli.close()
