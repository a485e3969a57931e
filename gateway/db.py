"""The database: one async engine for SQLite (embedded) and PostgreSQL (production), the
shared table metadata, and `migrate` (alembic upgrade head)."""

from __future__ import annotations

import asyncio
from importlib import resources
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config

metadata = sa.MetaData()
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        # One writer at a time; WAL set per connection below lets readers run beside it.
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=5, max_overflow=10, pool_pre_ping=True, pool_recycle=1800)


def alembic_config(url: str) -> Config:
    from alembic.config import Config  # imported on use: alembic costs ~0.25 s of CLI start-up

    config = Config()
    config.set_main_option("script_location", str(resources.files("migrations")))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate_sync(url: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(url), "head")


async def migrate(url: str) -> None:
    """alembic upgrade head; alembic's env runs its own event loop, so it gets a thread."""
    await asyncio.to_thread(migrate_sync, url)


def unreachable_reason(exc: BaseException, url: str) -> str | None:
    """One line naming host, port and database when `exc` says the database could not be
    reached or opened (refused, unknown host, timed out, no such database, bad password);
    None for anything else. Never includes the password."""
    import socket

    from sqlalchemy.engine import make_url

    cause: BaseException | None = exc
    reason = None
    while cause is not None and reason is None:
        name = type(cause).__name__
        if isinstance(cause, socket.gaierror):
            reason = "unknown host"
        elif isinstance(cause, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(cause, TimeoutError):
            reason = "timed out"
        elif name == "InvalidCatalogNameError":
            reason = "no such database"
        elif name == "InvalidPasswordError" or name == "InvalidAuthorizationSpecificationError":
            reason = "authentication failed"
        elif isinstance(cause, OSError) and not isinstance(cause, FileNotFoundError):
            reason = cause.strerror or name
        elif "unable to open database file" in str(cause):
            reason = "cannot open the SQLite file (does its directory exist?)"
        cause = cause.__cause__ or cause.__context__
    if reason is None:
        return None
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"cannot open the database {parsed.database}: {reason}"
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"
    return f"cannot reach the database at {where} ({parsed.get_backend_name()}): {reason}"


class DatabaseMissing(Exception):
    """An embedded (SQLite) database file that does not exist where a command looked for it."""


def require_existing_database(url: str) -> None:
    """The CLI's tenant, key and usage commands work on the database a gateway already made.
    The embedded default is a file relative to the working directory, so run elsewhere it
    would silently start an empty one ("no tenant 'demo'"): for a relative path that does not
    exist, say where it looked instead."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return
    path = Path(parsed.database)
    if not path.is_absolute() and not path.exists():   # an absolute path was chosen on purpose
        raise DatabaseMissing(
            f"no database at {path.resolve()}. The embedded default is ./gateway.db in the directory where "
            "`llm-gateway serve` ran: run this command there, or set GATEWAY_DATABASE_URL "
            "(`llm-gateway migrate` creates a new one on purpose).")
