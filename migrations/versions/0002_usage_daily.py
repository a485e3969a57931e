"""usage_daily: the daily rollup of usage_records; exact money on SQLite; request ids of
up to 128 characters (what the gateway accepts in x-request-id).

A 30-day report then reads ~30 x (tenants x features x models) rollup rows instead of
scanning every record of the month (figures: bench/usage_bench.py). The rollup is kept by
the writer in the same transaction as the records and backfilled here from what exists.

SQLite has no decimal type: cost_usd there becomes an integer count of 1e-10 USD (see
gateway/usage/tables.py, Money), which sums exactly.

Revision ID: 0002
Revises: 0003 (0003 landed first, revising 0001; the chain is 0001 -> 0003 -> 0002)
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0003"
branch_labels = None
depends_on = None

_UNITS_PER_USD = 10**10
_SUMS = """
    COUNT(*),
    SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END),
    SUM(CASE WHEN cache_hit THEN 0 ELSE prompt_tokens END),
    SUM(CASE WHEN cache_hit THEN 0 ELSE completion_tokens END),
    SUM(CASE WHEN cache_hit THEN 0 ELSE cached_tokens END),
    SUM(CASE WHEN cache_hit THEN 1 ELSE 0 END),
    SUM(CASE WHEN cache_hit THEN prompt_tokens + completion_tokens ELSE 0 END),
    SUM(cost_usd)
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.alter_column("usage_records", "request_id", type_=sa.String(128), existing_nullable=False)
    else:
        op.execute(f"UPDATE usage_records SET cost_usd = CAST(ROUND(cost_usd * {_UNITS_PER_USD}) AS INTEGER)")
    op.create_table(
        "usage_daily",
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("feature", sa.String(128), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("errors", sa.BigInteger, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("cached_tokens", sa.BigInteger, nullable=False),
        sa.Column("cache_hits", sa.BigInteger, nullable=False),
        sa.Column("saved_tokens", sa.BigInteger, nullable=False),
        sa.Column("cost_usd", sa.Numeric(20, 10) if dialect == "postgresql" else sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("day", "tenant", "feature", "model", "provider", name="pk_usage_daily"),
    )
    day = "CAST(ts AT TIME ZONE 'UTC' AS DATE)" if dialect == "postgresql" else "date(ts)"
    op.execute(f"""
        INSERT INTO usage_daily (day, tenant, feature, model, provider, requests, errors, prompt_tokens,
                                 completion_tokens, cached_tokens, cache_hits, saved_tokens, cost_usd)
        SELECT {day}, tenant, COALESCE(feature, ''), COALESCE(model, ''), COALESCE(provider, ''), {_SUMS}
        FROM usage_records
        GROUP BY {day}, tenant, COALESCE(feature, ''), COALESCE(model, ''), COALESCE(provider, '')
    """)


def downgrade() -> None:
    op.drop_table("usage_daily")
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("usage_records", "request_id", type_=sa.String(64), existing_nullable=False)
    else:
        op.execute(f"UPDATE usage_records SET cost_usd = CAST(cost_usd AS REAL) / {_UNITS_PER_USD}")
