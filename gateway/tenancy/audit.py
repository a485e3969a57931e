"""The audit log: who changed what, with the state before and after. Rows never hold a key
or its hash: key operations record the key's id, display prefix and dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.tenancy.models import as_utc
from gateway.tenancy.tables import audit_log

MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Actor:
    """A person making a change: `name` is what the `actor` column shows (their email, or
    their subject when the identity provider gives no email); subject and email are kept whole."""

    name: str
    subject: str | None = None
    email: str | None = None


async def record(conn: AsyncConnection, *, actor: str | Actor, action: str, target: str,
                 before: dict[str, Any] | None, after: dict[str, Any] | None,
                 request_id: str | None = None) -> None:
    """Written in the caller's transaction, so a mutation and its audit row commit together."""
    person = actor if isinstance(actor, Actor) else Actor(actor)
    await conn.execute(sa.insert(audit_log).values(
        ts=datetime.now(UTC), actor=person.name[:64], action=action, target=target[:128],
        before=before, after=after, request_id=request_id[:64] if request_id else None,
        actor_subject=person.subject[:255] if person.subject else None,
        actor_email=person.email[:320] if person.email else None))

_ID_LIMIT = 2**31 - 1


async def entries(conn: AsyncConnection, *, target: str | None = None, action: str | None = None,
                  limit: int = 100, before_id: int | None = None) -> list[dict[str, Any]]:
    """Newest first; page with `before_id` (the smallest id of the previous page)."""
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(min(max(limit, 1), MAX_PAGE))
    if target is not None:
        query = query.where(audit_log.c.target == target)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    if before_id is not None:
        # ids are 32-bit: a bound past them is no bound (and must not reach the driver, which refuses it)
        query = query.where(audit_log.c.id < min(max(before_id, -_ID_LIMIT), _ID_LIMIT))
    rows = (await conn.execute(query)).all()
    return [{"id": r.id, "ts": ts.isoformat() if (ts := as_utc(r.ts)) else None, "actor": r.actor,
             "actor_subject": r.actor_subject, "actor_email": r.actor_email,
             "action": r.action, "target": r.target, "before": r.before, "after": r.after,
             "request_id": r.request_id} for r in rows]
