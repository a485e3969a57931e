"""Shared fixtures: real PostgreSQL and Redis (skipped with a reason where absent, failed
under CI=true), a fresh database per test run, and settings for either database."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gateway.db import migrate_sync
from gateway.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from tests.fakes.openai_upstream import FakeOpenAI
    from tests.support.redis_cluster import RedisClusterNodes, RedisServer

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Tests only ever talk to loopback: boto3's credential chain must never fall through to the
# EC2 instance metadata address.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
POSTGRES_HOST = os.environ.get("TEST_POSTGRES_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("TEST_POSTGRES_PORT", "5432"))
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _unavailable(what: str) -> None:
    message = f"{what} is not reachable"
    if IN_CI:
        pytest.fail(f"{message}, and CI=true: the CI machine must provide it")
    pytest.skip(message)


def require_postgres() -> None:
    if not _reachable(POSTGRES_HOST, POSTGRES_PORT):
        _unavailable(f"PostgreSQL at {POSTGRES_HOST}:{POSTGRES_PORT}")


def require_redis() -> None:
    from redis import Redis

    try:
        Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception:
        _unavailable(f"Redis at {REDIS_URL}")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of its own for this test session, migrated to head, dropped afterwards."""
    require_postgres()
    name = f"gw_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+asyncpg://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
    migrate_sync(url)
    try:
        yield url
    finally:
        asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin_sql(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host=POSTGRES_HOST, port=POSTGRES_PORT, user="postgres", database="test")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def redis_url() -> str:
    require_redis()
    return REDIS_URL


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    migrate_sync(url)
    return url


@pytest.fixture
def upstream() -> Iterator[FakeOpenAI]:
    """A fake OpenAI upstream on loopback, answering as told (tests/fakes/openai_upstream.py)."""
    from tests.fakes.openai_upstream import FakeOpenAIServer
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def upstreams() -> Iterator[tuple[FakeOpenAI, FakeOpenAI]]:
    """Two fake OpenAI upstreams: a primary and a fallback."""
    from tests.fakes.openai_upstream import FakeOpenAIServer
    with FakeOpenAIServer() as primary, FakeOpenAIServer() as secondary:
        yield primary, secondary


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on `database_url` (SQLite and PostgreSQL in turn), disposed afterwards."""
    from gateway.db import create_engine
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    """A real three-node Redis Cluster for the whole session, shared by every suite that uses it."""
    from tests.support.redis_cluster import RedisClusterNodes, require_redis_server  # (it imports this module)
    require_redis_server()
    cluster = RedisClusterNodes(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own (it may be stopped, paused, flushed, counted)."""
    from tests.support.redis_cluster import RedisServer, require_redis_server  # (that module imports this one)
    require_redis_server()
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs the test once on SQLite (embedded) and once on PostgreSQL (production)."""
    if request.param == "sqlite":
        url: str = request.getfixturevalue("sqlite_url")
        return url
    url = request.getfixturevalue("postgres_url")
    return url


def make_settings(database_url: str, config: Path | None = None, **overrides: object) -> Settings:
    """Settings for one test's gateway. With Redis, the usage stream is the test's own, so a
    gateway of another test (sharing Redis) never drains this test's records into its database."""
    if overrides.get("redis_url") and "usage_stream_key" not in overrides:
        overrides["usage_stream_key"] = f"gw:usage:test:{unique()}"
    return Settings(database_url=database_url, config=config, bootstrap_demo_tenant=False, **overrides)  # type: ignore[arg-type]


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"
