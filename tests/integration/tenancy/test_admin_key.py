"""The admin key: generated once per database and stored as SHA-256 only, agreed on by
replicas starting together, replaced by a reset, overridden by GATEWAY_ADMIN_KEY."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db import create_engine, migrate
from gateway.tenancy.admin_key import AdminKey, open_admin_key, reset_admin_key
from gateway.tenancy.audit import entries
from gateway.tenancy.tables import admin_keys
from tests.conftest import POSTGRES_HOST, POSTGRES_PORT, _admin_sql, require_postgres, unique
from tests.integration.tenancy.support import database_text_async


@pytest.fixture
async def own_engine(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[AsyncEngine]:
    """A database of its own: the admin key is one per database."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/admin.db"
        await migrate(url)
        own_engine = create_engine(url)
        yield own_engine
        await own_engine.dispose()
        return
    require_postgres()
    name = unique("gw_admin_")
    await _admin_sql(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
    await migrate(url)
    own_engine = create_engine(url)
    try:
        yield own_engine
    finally:
        await own_engine.dispose()
        await _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


pytestmark = pytest.mark.parametrize("own_engine", ["sqlite", "postgres"], indirect=True)


async def test_generated_at_first_start_only_and_stored_as_a_hash(own_engine: AsyncEngine) -> None:
    checker, key = await open_admin_key(own_engine, None)
    assert key is not None and key.startswith("sk-admin-")
    assert await checker.matches(key)
    assert not await checker.matches(key + "x") and not await checker.matches(None) and not await checker.matches("")
    again, second = await open_admin_key(own_engine, None)
    assert second is None                                   # printed once, never again
    assert await again.matches(key)
    async with own_engine.connect() as conn:
        row = (await conn.execute(sa.select(admin_keys))).one()
        log = await entries(conn, target="admin_key")
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    stored = await database_text_async(str(own_engine.url.render_as_string(hide_password=False)))
    assert key not in stored and key.split("-", 2)[2][:8] not in stored
    assert [e["action"] for e in log] == ["admin_key.create"] and log[0]["after"]["prefix"] == row.prefix


async def test_replicas_starting_together_agree_on_one_key(own_engine: AsyncEngine) -> None:
    results = await asyncio.gather(*(open_admin_key(own_engine, None) for _ in range(4)))
    generated = [key for _, key in results if key is not None]
    assert len(generated) == 1
    for checker, _ in results:
        assert await checker.matches(generated[0])


async def test_a_reset_replaces_the_key_within_the_checkers_ttl(own_engine: AsyncEngine) -> None:
    _, old = await open_admin_key(own_engine, None)
    assert old is not None
    checker = AdminKey(own_engine, None, ttl=0)
    assert await checker.matches(old)
    new = await reset_admin_key(own_engine, actor="cli:test", request_id="cli_1")
    assert await checker.matches(new) and not await checker.matches(old)
    async with own_engine.connect() as conn:
        log = await entries(conn, target="admin_key", action="admin_key.reset")
    assert log[0]["before"]["prefix"] != log[0]["after"]["prefix"]
    assert log[0]["actor"] == "cli:test"
    assert old not in str(log) and new not in str(log)


async def test_the_environment_key_wins_and_nothing_is_generated(own_engine: AsyncEngine) -> None:
    checker, generated = await open_admin_key(own_engine, "sk-admin-from-the-environment-0123456789")
    assert generated is None and checker.from_environment
    assert await checker.matches("sk-admin-from-the-environment-0123456789")
    async with own_engine.connect() as conn:
        assert (await conn.execute(sa.select(admin_keys))).first() is None
