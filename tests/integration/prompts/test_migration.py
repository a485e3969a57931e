"""Migration 0009 (the prompt registry) goes up, down and up again on SQLite and PostgreSQL,
and what it creates matches the tables the code declares."""

from __future__ import annotations

from alembic import command

import gateway.prompts.tables  # noqa: F401  (registers the prompt tables on the metadata)
from gateway.db import alembic_config
from tests.console.test_migration import _differences, _tables, empty_url

__all__ = ["empty_url"]     # the fixture: a fresh database of each kind
PROMPT_TABLES = {"prompts", "prompt_versions", "prompt_labels"}


def test_0009_goes_up_down_and_up_and_matches_the_code(empty_url: str) -> None:
    config = alembic_config(empty_url)
    command.upgrade(config, "head")
    assert PROMPT_TABLES <= _tables(empty_url)
    command.downgrade(config, "0008")
    assert not PROMPT_TABLES & _tables(empty_url)
    command.upgrade(config, "head")
    mine = [d for d in _differences(empty_url) if any(f"'{table}'" in repr(d) for table in PROMPT_TABLES)]
    assert mine == []
