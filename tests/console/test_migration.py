"""Migration 0007 on SQLite and PostgreSQL: up, down to 0004 and up again; afterwards the
database matches the tables the code declares (console_sessions, audit_log's new columns)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import gateway.identity.tables
import gateway.tenancy.tables  # noqa: F401  (the tables compared)
from gateway.db import alembic_config, create_engine, metadata
from tests.conftest import POSTGRES_HOST, POSTGRES_PORT, _admin_sql, require_postgres


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    require_postgres()
    name = f"gw_mig_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
    finally:
        asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _differences(url: str) -> list[object]:
    async def compare() -> list[object]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), metadata))
        finally:
            await engine.dispose()

    return asyncio.run(compare())


def _tables(url: str) -> set[str]:
    async def names() -> set[str]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(names())


def test_0007_goes_up_down_and_up_and_matches_the_code(empty_url: str) -> None:
    config = alembic_config(empty_url)
    command.upgrade(config, "head")
    assert "console_sessions" in _tables(empty_url)
    command.downgrade(config, "0006")
    assert "console_sessions" not in _tables(empty_url)
    command.upgrade(config, "head")
    mine = [d for d in _differences(empty_url)
            if "console_sessions" in repr(d) or "actor_subject" in repr(d) or "actor_email" in repr(d)]
    assert mine == []
