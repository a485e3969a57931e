"""usage_records.client_request_id: the client's own x-request-id, kept for correlation.

The record's request_id is always the gateway's, so a client that resends one
x-request-id can never have a later request dropped as a duplicate (and go unbilled).

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("client_request_id", sa.String(128)))


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("client_request_id")
