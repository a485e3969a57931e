"""The usage tables: `usage_records`, one row per request, unique by request_id (idempotent
inserts), and `usage_daily`, its rollup per UTC day, tenant, feature, model and provider,
kept in the same transaction as the records so reports over whole days never scan records.
Two coarser rollups, kept by the same write, let a year be read without summing a year of
daily rows (gateway/usage/breakdown.py): `usage_monthly` (per UTC calendar month, same
dimensions; `month` is the month's first day) and `usage_daily_tenant` (per UTC day and
tenant only: the day series of a dashboard).

Money is exact on both databases: NUMERIC(20,10) on PostgreSQL; SQLite has no decimal type
(NUMERIC there is a float), so it stores an integer count of 1e-10 USD, which sums exactly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from gateway.db import Timestamp, metadata

MONEY_SCALE = 10
_UNITS_PER_USD: int = 10**MONEY_SCALE
_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)


def to_money(value: Decimal) -> Decimal:
    """A USD amount at the stored scale (half up, as PostgreSQL rounds NUMERIC)."""
    return value.quantize(_QUANTUM, rounding="ROUND_HALF_UP")


class Money(sa.TypeDecorator[Decimal]):
    impl = sa.Numeric(20, MONEY_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.BigInteger())
        return dialect.type_descriptor(sa.Numeric(20, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = to_money(Decimal(value))
        return int(amount * _UNITS_PER_USD) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)) / _UNITS_PER_USD
        return Decimal(value)


usage_records = sa.Table(
    "usage_records", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(128), nullable=False, unique=True),   # the gateway's own id
    sa.Column("ts", Timestamp, nullable=False),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(32)),
    sa.Column("feature", sa.String(128)),
    sa.Column("end_user", sa.String(256)),
    sa.Column("requested_model", sa.String(128)),
    sa.Column("model", sa.String(128)),
    sa.Column("provider", sa.String(64)),
    sa.Column("upstream_model", sa.String(256)),
    sa.Column("status", sa.String(32), nullable=False),     # ok | error | client_closed | rejected
    sa.Column("http_status", sa.Integer, nullable=False),
    sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cached_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cost_usd", Money, nullable=False, server_default="0"),
    sa.Column("latency_ms", sa.Integer),
    sa.Column("ttft_ms", sa.Integer),
    sa.Column("fallback_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("stream", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("cache_hit", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("redactions", sa.Integer, nullable=False, server_default="0"),
    sa.Column("client_request_id", sa.String(128)),                          # the client's x-request-id
    sa.Column("api", sa.String(16), nullable=False, server_default="chat"),   # the client API's shape
    sa.Column("cache_match", sa.String(16)),                                 # exact | semantic (hits only)
    sa.Column("cache_similarity", sa.Float),                                 # a hit's similarity
    sa.Column("prompt_id", sa.String(128)),                                  # the stored prompt rendered
    sa.Column("prompt_version", sa.Integer),                                 # ... and its version
    sa.Column("validation", sa.String(16)),                                  # JSON Schema verdict
    sa.Index("ix_usage_records_tenant_ts", "tenant", "ts"),
    sa.Index("ix_usage_records_ts", "ts"),
)

# Dimensions are NOT NULL ('' for none) so that they can form the unique key of an upsert.
ROLLUP_DIMENSIONS = ("day", "tenant", "feature", "model", "provider")

ROLLUP_SUMS = ("requests", "errors", "prompt_tokens", "completion_tokens", "cached_tokens", "cache_hits",
               "saved_tokens", "cost_usd")


def _sums() -> list[sa.Column[Any]]:
    return [
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("errors", sa.BigInteger, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),      # billed: cache hits excluded
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("cached_tokens", sa.BigInteger, nullable=False),
        sa.Column("cache_hits", sa.BigInteger, nullable=False),
        sa.Column("saved_tokens", sa.BigInteger, nullable=False),       # tokens cache hits did not pay for
        sa.Column("cost_usd", Money, nullable=False),
    ]


def _dimensions(first: str) -> list[sa.Column[Any]]:
    return [sa.Column(first, sa.Date, nullable=False),
            sa.Column("tenant", sa.String(64), nullable=False),
            sa.Column("feature", sa.String(128), nullable=False),
            sa.Column("model", sa.String(128), nullable=False),
            sa.Column("provider", sa.String(64), nullable=False)]


usage_daily = sa.Table(
    "usage_daily", metadata, *_dimensions("day"), *_sums(),
    sa.PrimaryKeyConstraint(*ROLLUP_DIMENSIONS, name="pk_usage_daily"),
)

MONTHLY_DIMENSIONS = ("month", "tenant", "feature", "model", "provider")

usage_monthly = sa.Table(
    "usage_monthly", metadata, *_dimensions("month"), *_sums(),
    sa.PrimaryKeyConstraint(*MONTHLY_DIMENSIONS, name="pk_usage_monthly"),
)

TENANT_DAY_DIMENSIONS = ("day", "tenant")

usage_daily_tenant = sa.Table(
    "usage_daily_tenant", metadata,
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("tenant", sa.String(64), nullable=False),
    *_sums(),
    sa.PrimaryKeyConstraint(*TENANT_DAY_DIMENSIONS, name="pk_usage_daily_tenant"),
)
