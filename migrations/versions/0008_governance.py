"""usage_records.prompt_id, prompt_version and validation: which stored prompt (and which of
its immutable versions) a request rendered, and the verdict of the response's JSON Schema
validation (passed | failed | retried | rejected), so that cost and failures can be grouped
by prompt version. tenants.validation_mode: the tenant's policy for an answer that fails its
JSON Schema (pass | retry | reject; None: the catalog's default).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("prompt_id", sa.String(128)))
        batch.add_column(sa.Column("prompt_version", sa.Integer))
        batch.add_column(sa.Column("validation", sa.String(16)))
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("validation_mode", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("validation_mode")
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("validation")
        batch.drop_column("prompt_version")
        batch.drop_column("prompt_id")
