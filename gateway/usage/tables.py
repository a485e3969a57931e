"""The usage_records table: one row per request, unique by request_id (idempotent inserts)."""

from __future__ import annotations

import sqlalchemy as sa

from gateway.db import Timestamp, metadata

usage_records = sa.Table(
    "usage_records", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), nullable=False, unique=True),
    sa.Column("ts", Timestamp, nullable=False),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(32)),
    sa.Column("feature", sa.String(128)),
    sa.Column("end_user", sa.String(256)),
    sa.Column("requested_model", sa.String(128)),
    sa.Column("model", sa.String(128)),
    sa.Column("provider", sa.String(64)),
    sa.Column("upstream_model", sa.String(256)),
    sa.Column("status", sa.String(32), nullable=False),     # ok | error | client_closed | ...
    sa.Column("http_status", sa.Integer, nullable=False),
    sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cached_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cost_usd", sa.Numeric(20, 10), nullable=False, server_default="0"),
    sa.Column("latency_ms", sa.Integer),
    sa.Column("ttft_ms", sa.Integer),
    sa.Column("fallback_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("stream", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("cache_hit", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("redactions", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_usage_records_tenant_ts", "tenant", "ts"),
    sa.Index("ix_usage_records_ts", "ts"),
)
