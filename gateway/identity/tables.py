"""The console sessions table: one row per signed-in browser (see migration 0007)."""

from __future__ import annotations

import sqlalchemy as sa

from gateway.db import Timestamp, metadata

console_sessions = sa.Table(
    "console_sessions", metadata,
    sa.Column("id", sa.String(64), primary_key=True),          # SHA-256 of the cookie's token
    sa.Column("subject", sa.String(255), nullable=False),      # the ID token's `sub` ("admin-key" without OIDC)
    sa.Column("email", sa.String(320)),
    sa.Column("name", sa.String(255)),
    sa.Column("role", sa.String(16), nullable=False),          # viewer | operator | admin
    sa.Column("csrf", sa.String(64), nullable=False),          # the synchronizer token every change must carry
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False, index=True),
)
