"""Migration 0010 (usage_monthly, usage_daily_tenant) on SQLite and PostgreSQL: up, down to
0009 and up again; afterwards the database matches the tables the code declares. Its
backfill is checked in test_writer.py (test_migration_backfills_the_rollup_from_existing_records)."""

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

import gateway.usage.tables  # noqa: F401  (the tables compared)
from gateway.db import alembic_config, create_engine, metadata
from tests.conftest import POSTGRES_HOST, POSTGRES_PORT, _admin_sql, require_postgres

NEW_TABLES = {"usage_monthly", "usage_daily_tenant"}


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    require_postgres()
    name = f"gw_mig10_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
    finally:
        asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _inspect(url: str) -> tuple[set[str], list[object]]:
    async def run() -> tuple[set[str], list[object]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                names = set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
                differences = await conn.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), metadata))
                return names, differences
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_0010_goes_up_down_and_up_and_matches_the_code(empty_url: str) -> None:
    config = alembic_config(empty_url)
    command.upgrade(config, "head")
    assert NEW_TABLES <= _inspect(empty_url)[0]
    command.downgrade(config, "0009")
    assert not NEW_TABLES & _inspect(empty_url)[0]
    command.upgrade(config, "head")
    names, differences = _inspect(empty_url)
    assert NEW_TABLES <= names
    assert [d for d in differences if any(t in repr(d) for t in NEW_TABLES)] == []
