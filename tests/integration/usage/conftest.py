"""Fixtures for the usage tests: a Redis Stream and consumer group of the test's own (never
touching anyone else's keys), PostgreSQL behind a proxy the test can cut, and helpers that
read what reached the database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
from redis import Redis
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.usage.tables import usage_records
from tests.conftest import unique
from tests.support.gateway import RunningGateway
from tests.support.tcp_proxy import TcpProxy


@dataclass(frozen=True)
class StreamNames:
    key: str
    group: str

    @property
    def dead_key(self) -> str:
        return f"{self.key}:dead"


@pytest.fixture
def stream(redis_url: str) -> Iterator[StreamNames]:
    names = StreamNames(key=f"gw:usage:test:{unique()}", group=unique("group"))
    yield names
    client = Redis.from_url(redis_url)
    try:
        client.delete(names.key, names.dead_key)   # this test's own keys only
    finally:
        client.close()


@dataclass
class ProxiedPostgres:
    url: str            # through the proxy
    direct_url: str     # around it, for the test's own reads
    proxy: TcpProxy


def via_proxy(url: str, port: int) -> str:
    parts = urlsplit(url)
    user = parts.netloc.rsplit("@", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}@127.0.0.1:{port}"))


@pytest.fixture
def proxied_postgres(postgres_url: str) -> Iterator[ProxiedPostgres]:
    parts = urlsplit(postgres_url)
    with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
        yield ProxiedPostgres(url=via_proxy(postgres_url, proxy.port), direct_url=postgres_url, proxy=proxy)


def count_records(database_url: str, *where: sa.ColumnElement[bool]) -> tuple[int, int]:
    """(records, distinct request ids) matching `where`, read on a connection of its own."""

    async def query() -> tuple[int, int]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                row = (await conn.execute(sa.select(sa.func.count(), sa.func.count(sa.distinct(
                    usage_records.c.request_id))).where(*where))).one()
                return int(row[0]), int(row[1])
        finally:
            await engine.dispose()

    return asyncio.run(query())


def request_ids(database_url: str, *where: sa.ColumnElement[bool]) -> list[str]:
    async def query() -> list[str]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(sa.select(usage_records.c.request_id).where(*where))).scalars())
        finally:
            await engine.dispose()

    return asyncio.run(query())


def poll(check: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    """True as soon as `check()` is; False once `timeout` seconds have passed without it."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def gateway_records(gw: RunningGateway, tenant: str, *, at_least: int = 1, timeout: float = 15) -> list[sa.Row[Any]]:
    """The tenant's records as the gateway's own engine sees them, once `at_least` are there
    (flushing the embedded outbox first)."""

    async def query() -> list[sa.Row[Any]]:
        async with gw.runtime.engine.connect() as conn:
            return list((await conn.execute(sa.select(usage_records).where(usage_records.c.tenant == tenant)
                                            .order_by(usage_records.c.id))).all())

    rows: list[sa.Row[Any]] = []

    def enough() -> bool:
        nonlocal rows
        gw.flush_usage()
        rows = gw.run(query)
        return len(rows) >= at_least

    poll(enough, timeout, interval=0.05)
    return rows
