"""Migration 0010 (usage_monthly, usage_daily_tenant) on SQLite and PostgreSQL: up, down to
0009 and up again; afterwards the database matches the tables the code declares. Its
backfill is checked in test_writer.py (test_migration_backfills_the_rollup_from_existing_records)."""

from __future__ import annotations

from alembic import command

import gateway.usage.tables  # noqa: F401  (the tables compared)
from gateway.db import alembic_config
from tests.console.test_migration import _differences, _tables, empty_url

__all__ = ["empty_url"]     # the fixture: a fresh database of each kind
NEW_TABLES = {"usage_monthly", "usage_daily_tenant"}


def test_0010_goes_up_down_and_up_and_matches_the_code(empty_url: str) -> None:
    config = alembic_config(empty_url)
    command.upgrade(config, "head")
    assert NEW_TABLES <= _tables(empty_url)
    command.downgrade(config, "0009")
    assert not NEW_TABLES & _tables(empty_url)
    command.upgrade(config, "head")
    assert NEW_TABLES <= _tables(empty_url)
    assert [d for d in _differences(empty_url) if any(t in repr(d) for t in NEW_TABLES)] == []
