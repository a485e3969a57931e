"""Tables for tenants, API keys, the admin key and the audit log (keys are stored as SHA-256 only)."""

from __future__ import annotations

import sqlalchemy as sa

from gateway.db import JSONType, Timestamp, metadata

tenants = sa.Table(
    "tenants", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("tier", sa.String(32), nullable=False),
    sa.Column("models", JSONType, nullable=False),          # allowlist: models, aliases, globs
    sa.Column("limits", JSONType, nullable=False),          # per-tenant overrides of the tier
    sa.Column("pii_mode", sa.String(16)),                   # None: the catalog's guardrails
    sa.Column("cache_mode", sa.String(16)),                 # None: the catalog's cache mode
    sa.Column("validation_mode", sa.String(16)),            # None: the catalog's validation policy
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("tenant_id", sa.String(32), sa.ForeignKey("tenants.id"), nullable=False, index=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(40), nullable=False),     # shown in listings, never enough to use
    sa.Column("label", sa.String(128)),
    sa.Column("limits", JSONType),                          # optional per-key limits
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp),
    sa.Column("revoked_at", Timestamp),
    sa.Column("last_used_at", Timestamp),
)

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", Timestamp, nullable=False, index=True),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(128), nullable=False, index=True),
    sa.Column("before", JSONType),
    sa.Column("after", JSONType),
    sa.Column("request_id", sa.String(64)),
    # The person behind a console change (from the ID token; the admin key has neither).
    sa.Column("actor_subject", sa.String(255)),
    sa.Column("actor_email", sa.String(320)),
)

# The admin key when GATEWAY_ADMIN_KEY is not set: generated at first start, printed once,
# stored as SHA-256 only. One row (id "default"); `llm-gateway admin-key reset` replaces it.
admin_keys = sa.Table(
    "admin_keys", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("prefix", sa.String(40), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)
