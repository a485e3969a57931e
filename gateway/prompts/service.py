"""Prompt operations shared by the CLI and the admin API: create, add a version, move a
label, list, show, diff.

A prompt belongs to a tenant (named by the tenant's name here, stored under its id) or is
shared (`tenant=None`: every tenant may call it as `shared/<id>`; creating one is an
explicit choice). Versions are numbered 1, 2, 3 ... and never change. Every write records
an audit row naming its actor in the same transaction and, once committed, publishes a
`prompt` change so that every replica's resolver drops what the label pointed at.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.prompts.content import (
    LATEST,
    SHARED_PREFIX,
    PromptError,
    as_version,
    check_content,
    check_label,
    check_prompt_id,
)
from gateway.prompts.diff import unified_diff
from gateway.prompts.resolver import change_id
from gateway.prompts.tables import SHARED, prompt_labels, prompt_versions, prompts
from gateway.tenancy import audit
from gateway.tenancy.audit import Actor
from gateway.tenancy.changes import Change, ChangeKind
from gateway.tenancy.models import as_utc
from gateway.tenancy.tables import tenants
from gateway.tenancy.validation import NotFoundError

Publish = Callable[[Change], Awaitable[None]]
__all__ = ["PromptError", "PromptService"]


def _iso(value: datetime | None) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value else None


class PromptService:
    def __init__(self, engine: AsyncEngine, publish: Publish | None = None) -> None:
        self._engine = engine
        self._publish = publish

    # -- writes ----------------------------------------------------------------------------

    async def create(self, prompt_id: str, content: Any, *, tenant: str | None, description: str | None = None,
                     actor: str | Actor = "cli", request_id: str | None = None) -> dict[str, Any]:
        """A new prompt with its version 1."""
        check_prompt_id(prompt_id)
        checked = check_content(content)
        now = datetime.now(UTC)
        who = _actor_name(actor)
        async with self._engine.begin() as conn:
            owner = await self._owner(conn, tenant)
            if await conn.scalar(sa.select(prompts.c.id).where(prompts.c.owner == owner, prompts.c.id == prompt_id)):
                raise PromptError(f"prompt {_display(tenant, prompt_id)!r} already exists; add a version instead",
                                  param="id")
            try:
                await conn.execute(sa.insert(prompts).values(owner=owner, id=prompt_id, created_at=now, created_by=who,
                                                             description=description[:500] if description else None))
                await conn.execute(sa.insert(prompt_versions).values(owner=owner, prompt_id=prompt_id, version=1,
                                                                     content=checked, created_at=now, created_by=who))
            except IntegrityError:   # created concurrently
                raise PromptError(f"prompt {_display(tenant, prompt_id)!r} already exists", param="id") from None
            after = {"owner": _owner_label(tenant), "id": prompt_id, "version": 1, "content": checked}
            await audit.record(conn, actor=actor, action="prompt.create", target=_target(tenant, prompt_id),
                               before=None, after=after, request_id=request_id)
        await self._changed(owner, prompt_id)
        return await self.show(prompt_id, tenant=tenant)

    async def add_version(self, prompt_id: str, content: Any, *, tenant: str | None, actor: str | Actor = "cli",
                          request_id: str | None = None) -> dict[str, Any]:
        """The next version (labels stay where they are; `latest` moves to it)."""
        checked = check_content(content)
        async with self._engine.begin() as conn:
            owner = await self._owner(conn, tenant)
            await self._prompt_row(conn, owner, prompt_id, tenant, for_update=True)
            latest = await conn.scalar(sa.select(sa.func.max(prompt_versions.c.version)).where(
                prompt_versions.c.owner == owner, prompt_versions.c.prompt_id == prompt_id)) or 0
            version = int(latest) + 1
            try:
                await conn.execute(sa.insert(prompt_versions).values(
                    owner=owner, prompt_id=prompt_id, version=version, content=checked,
                    created_at=datetime.now(UTC), created_by=_actor_name(actor)))
            except IntegrityError:
                raise PromptError("another version was added at the same moment; try again") from None
            await audit.record(conn, actor=actor, action="prompt.version", target=_target(tenant, prompt_id),
                               before={"version": latest}, after={"version": version, "content": checked},
                               request_id=request_id)
        await self._changed(owner, prompt_id)
        return await self.get_version(prompt_id, str(version), tenant=tenant)

    async def set_label(self, prompt_id: str, label: str, version: int, *, tenant: str | None,
                        actor: str | Actor = "cli", request_id: str | None = None) -> dict[str, Any]:
        """Points `label` at `version` (creating the label, or moving it)."""
        check_label(label)
        if isinstance(version, bool) or not 1 <= version < 2**31:
            raise PromptError("a version is a number from 1", param="version")
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            owner = await self._owner(conn, tenant)
            await self._prompt_row(conn, owner, prompt_id, tenant, for_update=True)
            exists = await conn.scalar(sa.select(prompt_versions.c.version).where(
                prompt_versions.c.owner == owner, prompt_versions.c.prompt_id == prompt_id,
                prompt_versions.c.version == version))
            if exists is None:
                raise PromptError(f"prompt {_display(tenant, prompt_id)!r} has no version {version}", param="version")
            where = (prompt_labels.c.owner == owner, prompt_labels.c.prompt_id == prompt_id,
                     prompt_labels.c.label == label)
            before = await conn.scalar(sa.select(prompt_labels.c.version).where(*where))
            values = {"version": version, "updated_at": now, "updated_by": _actor_name(actor)}
            if before is None:
                await conn.execute(sa.insert(prompt_labels).values(owner=owner, prompt_id=prompt_id, label=label,
                                                                   **values))
            else:
                await conn.execute(sa.update(prompt_labels).where(*where).values(**values))
            await audit.record(conn, actor=actor, action="prompt.label", target=_target(tenant, prompt_id),
                               before={"label": label, "version": before},
                               after={"label": label, "version": version}, request_id=request_id)
        await self._changed(owner, prompt_id)
        return {"prompt": _display(tenant, prompt_id), "label": label, "version": version, "previous": before}

    # -- reads -----------------------------------------------------------------------------

    async def list_prompts(self, *, tenant: str | None) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            owner = await self._owner(conn, tenant)
            rows = (await conn.execute(sa.select(prompts).where(prompts.c.owner == owner)
                                       .order_by(prompts.c.id))).all()
            latest = dict((await conn.execute(
                sa.select(prompt_versions.c.prompt_id, sa.func.max(prompt_versions.c.version))
                .where(prompt_versions.c.owner == owner).group_by(prompt_versions.c.prompt_id))).tuples().all())
            labels: dict[str, dict[str, int]] = {}
            for row in (await conn.execute(sa.select(prompt_labels).where(prompt_labels.c.owner == owner)
                                           .order_by(prompt_labels.c.label))).all():
                labels.setdefault(row.prompt_id, {})[row.label] = row.version
        return [{"id": _display(tenant, r.id), "owner": _owner_label(tenant), "description": r.description,
                 "latest_version": latest.get(r.id), "labels": labels.get(r.id, {}),
                 "created_at": _iso(r.created_at), "created_by": r.created_by} for r in rows]

    async def show(self, prompt_id: str, *, tenant: str | None) -> dict[str, Any]:
        """The prompt, its versions (without content) and labels."""
        async with self._engine.connect() as conn:
            owner = await self._owner(conn, tenant)
            row = await self._prompt_row(conn, owner, prompt_id, tenant)
            versions = (await conn.execute(sa.select(prompt_versions).where(
                prompt_versions.c.owner == owner, prompt_versions.c.prompt_id == prompt_id)
                .order_by(prompt_versions.c.version))).all()
            labels = (await conn.execute(sa.select(prompt_labels).where(
                prompt_labels.c.owner == owner, prompt_labels.c.prompt_id == prompt_id)
                .order_by(prompt_labels.c.label))).all()
        return {"id": _display(tenant, prompt_id), "owner": _owner_label(tenant), "description": row.description,
                "created_at": _iso(row.created_at), "created_by": row.created_by,
                "latest_version": versions[-1].version if versions else None,
                "labels": {r.label: r.version for r in labels},
                "versions": [{"version": v.version, "model": v.content.get("model"),
                              "description": v.content.get("description"), "created_at": _iso(v.created_at),
                              "created_by": v.created_by} for v in versions]}

    async def get_version(self, prompt_id: str, selector: str | None, *, tenant: str | None) -> dict[str, Any]:
        """One version's content; `selector` a number, a label or `latest` (None: latest)."""
        async with self._engine.connect() as conn:
            owner = await self._owner(conn, tenant)
            await self._prompt_row(conn, owner, prompt_id, tenant)
            version = await self._version_of(conn, owner, prompt_id, selector or LATEST, tenant)
            row = (await conn.execute(sa.select(prompt_versions).where(
                prompt_versions.c.owner == owner, prompt_versions.c.prompt_id == prompt_id,
                prompt_versions.c.version == version))).first()
        if row is None:
            raise NotFoundError(f"prompt {_display(tenant, prompt_id)!r} has no version {version}")
        return {"id": _display(tenant, prompt_id), "owner": _owner_label(tenant), "version": row.version,
                "content": row.content, "created_at": _iso(row.created_at), "created_by": row.created_by}

    async def diff(self, prompt_id: str, old: str, new: str, *, tenant: str | None) -> dict[str, Any]:
        first = await self.get_version(prompt_id, old, tenant=tenant)
        second = await self.get_version(prompt_id, new, tenant=tenant)
        name = _display(tenant, prompt_id)
        return {"id": name, "from": first["version"], "to": second["version"],
                "diff": unified_diff(first["content"], second["content"], f"{name}@{first['version']}",
                                     f"{name}@{second['version']}")}

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    async def _owner(conn: AsyncConnection, tenant: str | None) -> str:
        if tenant is None:
            return SHARED
        owner = await conn.scalar(sa.select(tenants.c.id).where(tenants.c.name == tenant))
        if owner is None:
            raise NotFoundError(f"no tenant {tenant!r}")
        return str(owner)

    @staticmethod
    async def _prompt_row(conn: AsyncConnection, owner: str, prompt_id: str, tenant: str | None, *,
                          for_update: bool = False) -> sa.Row[Any]:
        query = sa.select(prompts).where(prompts.c.owner == owner, prompts.c.id == prompt_id)
        row = (await conn.execute(query.with_for_update() if for_update else query)).first()
        if row is None:
            raise NotFoundError(f"no prompt {_display(tenant, prompt_id)!r}"
                                + (f" of tenant {tenant!r}" if tenant is not None else ""))
        return row

    @staticmethod
    async def _version_of(conn: AsyncConnection, owner: str, prompt_id: str, selector: str,
                          tenant: str | None) -> int:
        number = as_version(selector)
        if number is not None:
            return number
        if selector == LATEST:
            version = await conn.scalar(sa.select(sa.func.max(prompt_versions.c.version)).where(
                prompt_versions.c.owner == owner, prompt_versions.c.prompt_id == prompt_id))
        else:
            version = await conn.scalar(sa.select(prompt_labels.c.version).where(
                prompt_labels.c.owner == owner, prompt_labels.c.prompt_id == prompt_id,
                prompt_labels.c.label == selector))
        if version is None:
            raise NotFoundError(f"prompt {_display(tenant, prompt_id)!r} has no label {selector!r}")
        return int(version)

    async def _changed(self, owner: str, prompt_id: str) -> None:
        if self._publish is not None:
            await self._publish(Change(ChangeKind.PROMPT, change_id(owner, prompt_id)))


def _display(tenant: str | None, prompt_id: str) -> str:
    """How a request names it: `id` for a tenant's own, `shared/id` for a shared one."""
    return SHARED_PREFIX + prompt_id if tenant is None else prompt_id


def _owner_label(tenant: str | None) -> str:
    return tenant if tenant is not None else "shared"


def _target(tenant: str | None, prompt_id: str) -> str:
    """The audit row's target: `prompt:<tenant>/<id>` or `prompt:shared/<id>`."""
    return f"prompt:{_owner_label(tenant)}/{prompt_id}"


def _actor_name(actor: str | Actor) -> str:
    return (actor.name if isinstance(actor, Actor) else actor)[:64]
