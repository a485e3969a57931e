"""The audit log: who changed what, with the state before and after."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.tenancy.tables import audit_log


async def record(conn: AsyncConnection, *, actor: str, action: str, target: str,
                 before: dict[str, Any] | None, after: dict[str, Any] | None,
                 request_id: str | None = None) -> None:
    """Written in the caller's transaction, so a mutation and its audit row commit together."""
    await conn.execute(sa.insert(audit_log).values(
        ts=datetime.now(UTC), actor=actor, action=action, target=target,
        before=before, after=after, request_id=request_id))
