"""Console sessions, kept in the database so that logout and expiry hold on every replica of
the admin deployment. The browser's cookie holds a random token; the table holds only its
SHA-256, the person, their role, the CSRF token and the expiry. One query per page view."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.identity.roles import Principal, Role
from gateway.identity.tables import console_sessions
from gateway.tenancy.models import as_utc

COOKIE = "gw_console"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    def __init__(self, engine: AsyncEngine, lifetime: timedelta) -> None:
        self._engine = engine
        self.lifetime = lifetime

    async def create(self, *, subject: str, role: Role, email: str | None, name: str | None) -> str:
        """A new session; returns the cookie's token (never stored). Expired rows go at the same time."""
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            await conn.execute(sa.delete(console_sessions).where(console_sessions.c.expires_at < now))
            await conn.execute(sa.insert(console_sessions).values(
                id=_digest(token), subject=subject[:255], email=email[:320] if email else None,
                name=name[:255] if name else None, role=role.label, csrf=secrets.token_urlsafe(32),
                created_at=now, expires_at=now + self.lifetime))
        return token

    async def principal(self, token: str | None) -> Principal | None:
        """The person behind a cookie, or None when it is absent, unknown or expired."""
        if not token or len(token) > 128:
            return None
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(console_sessions)
                                      .where(console_sessions.c.id == _digest(token)))).first()
        if row is None:
            return None
        expires_at = as_utc(row.expires_at)
        role = Role.parse(row.role)
        if expires_at is None or expires_at <= datetime.now(UTC) or role is None:
            return None
        return Principal(subject=row.subject, role=role, email=row.email, name=row.name, csrf=row.csrf)

    async def end(self, token: str | None) -> None:
        if not token:
            return
        async with self._engine.begin() as conn:
            await conn.execute(sa.delete(console_sessions).where(console_sessions.c.id == _digest(token)))
