"""usage_records.api: the client API a request spoke (chat, responses, messages,
completions, embeddings), so usage reports can group by it. Existing rows were all chat
completions or embeddings; they default to chat.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("api", sa.String(16), nullable=False, server_default="chat"))


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("api")
