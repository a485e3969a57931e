"""Tables of the prompt registry (migration 0009). `owner` is a tenant's id, or SHARED for
the prompts every tenant may name as `shared/<id>`."""

from __future__ import annotations

import sqlalchemy as sa

from gateway.db import JSONType, Timestamp, metadata

SHARED = "*"     # the owner of shared prompts (a tenant id is `ten_...`: no clash)

prompts = sa.Table(
    "prompts", metadata,
    sa.Column("owner", sa.String(32), primary_key=True),
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("description", sa.String(500)),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
)

prompt_versions = sa.Table(
    "prompt_versions", metadata,
    sa.Column("owner", sa.String(32), primary_key=True),
    sa.Column("prompt_id", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("content", JSONType, nullable=False),          # immutable once written
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.ForeignKeyConstraint(["owner", "prompt_id"], ["prompts.owner", "prompts.id"]),
)

prompt_labels = sa.Table(
    "prompt_labels", metadata,
    sa.Column("owner", sa.String(32), primary_key=True),
    sa.Column("prompt_id", sa.String(100), primary_key=True),
    sa.Column("label", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=False),
    sa.ForeignKeyConstraint(["owner", "prompt_id", "version"],
                            ["prompt_versions.owner", "prompt_versions.prompt_id", "prompt_versions.version"]),
)
