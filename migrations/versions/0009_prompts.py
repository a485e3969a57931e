"""The prompt registry: prompts (a slug per owner -- a tenant's id, or `*` for the shared
ones every tenant may name as `shared/<id>`), their immutable versions (messages or
instructions + input with `{{variables}}`, default model and parameters, response schema,
validation policy, as one JSON document), and labels (`production`, `staging`, ...) that
point at a version.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "prompts",
        sa.Column("owner", sa.String(32), primary_key=True),
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("description", sa.String(500)),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
    )
    op.create_table(
        "prompt_versions",
        sa.Column("owner", sa.String(32), primary_key=True),
        sa.Column("prompt_id", sa.String(100), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("content", _JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["owner", "prompt_id"], ["prompts.owner", "prompts.id"]),
    )
    op.create_table(
        "prompt_labels",
        sa.Column("owner", sa.String(32), primary_key=True),
        sa.Column("prompt_id", sa.String(100), primary_key=True),
        sa.Column("label", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["owner", "prompt_id", "version"],
                                ["prompt_versions.owner", "prompt_versions.prompt_id", "prompt_versions.version"]),
    )


def downgrade() -> None:
    op.drop_table("prompt_labels")
    op.drop_table("prompt_versions")
    op.drop_table("prompts")
