"""Talking to the console over HTTP as a browser would (cookies, forms, redirects), and
starting sessions of any role directly in the database for role tests."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from gateway.identity.roles import Role
from gateway.identity.sessions import COOKIE, SessionStore
from gateway.identity.tables import console_sessions
from tests.support.gateway import RunningGateway

UI = "/admin/ui"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class ConsoleClient(httpx.Client):
    def __init__(self, gw: RunningGateway) -> None:
        super().__init__(base_url=gw.admin_url, follow_redirects=False, timeout=30)
        self.gw = gw

    def sign_in_with_admin_key(self, key: str | None = None) -> httpx.Response:
        return self.post(f"{UI}/login", data={"admin_key": key or self.gw.admin_key, "next": f"{UI}/"})

    def sign_in_as(self, role: Role, *, email: str | None = None, subject: str = "sub-1") -> str:
        """A session of `role` for a person, as the OIDC callback would create it."""
        store = SessionStore(self.gw.runtime.engine, timedelta(hours=1))
        token: str = self.gw.run(lambda: store.create(subject=subject, role=role, email=email, name=None))
        self.cookies.set(COOKIE, token, domain="127.0.0.1", path="/admin")
        return token

    def csrf(self, page: str = f"{UI}/tenants") -> str:
        html = self.get(page).text
        found = _CSRF.search(html)
        if found is None:   # a viewer's pages carry no forms: read the session's token itself
            store = SessionStore(self.gw.runtime.engine, timedelta(hours=1))
            principal = self.gw.run(lambda: store.principal(self.cookies.get(COOKIE)))
            assert principal is not None and principal.csrf
            return str(principal.csrf)
        return found.group(1)

    def form(self, path: str, **fields: Any) -> httpx.Response:
        return self.post(path, data={k: str(v) for k, v in fields.items()})


def expire_session(gw: RunningGateway, token: str) -> None:
    """Moves the session's expiry into the past, as time would."""
    async def run() -> None:
        async with gw.runtime.engine.begin() as conn:
            await conn.execute(sa.update(console_sessions)
                               .where(console_sessions.c.id == hashlib.sha256(token.encode()).hexdigest())
                               .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    gw.run(run)
