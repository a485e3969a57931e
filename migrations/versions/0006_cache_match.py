"""usage_records.cache_match and cache_similarity: which kind of cache hit answered (exact or
semantic) and, for a semantic one, how similar the stored prompt was.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("cache_match", sa.String(16)))
        batch.add_column(sa.Column("cache_similarity", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("cache_similarity")
        batch.drop_column("cache_match")
