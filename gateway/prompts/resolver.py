"""Prompt lookups for the request path, cached in process.

    resolve(tenant_id, name, selector) -> Resolved(recorded id, version, content)

A version's content never changes once written, so it is cached for the life of the
process (bounded). What a label (or `latest`) points at can move: that answer is trusted
for `ttl` seconds (1 s by default), and a move made anywhere -- another replica's admin API,
the CLI -- is published on the tenancy change feed (gateway/tenancy/changes.py, kind
`prompt`), which drops the pointer at once on every replica. Concurrent requests for the
same pointer share one query; a pointer in use is re-read in the background once it is
half a ttl old, so a busy label costs no request a wait. A request without a prompt never
reaches this module.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.errors import InvalidRequest, ServiceUnavailable
from gateway.prompts.content import LATEST, SHARED_PREFIX, as_version
from gateway.prompts.tables import SHARED, prompt_labels, prompt_versions, prompts
from gateway.tenancy.changes import Change, ChangeKind

log = logging.getLogger("gateway.prompts")
_MAX_ENTRIES = 50_000
Key = tuple[str, str, str]          # (owner, prompt id, label | "latest")


@dataclass(frozen=True, slots=True)
class Resolved:
    recorded_id: str                # as usage records name it: `id`, or `shared/id`
    version: int
    content: dict[str, Any]


@dataclass(slots=True)
class _Pointer:
    version: int | None             # None: no such label (or no such prompt: `exists`)
    exists: bool
    fetched_at: float


def change_id(owner: str, prompt_id: str) -> str:
    """The id a prompt change is published under."""
    return f"{owner}/{prompt_id}"


def owner_and_id(tenant_id: str, name: str) -> tuple[str, str]:
    """`shared/x` is the shared prompt x; any other name is the tenant's own."""
    if name.startswith(SHARED_PREFIX):
        return SHARED, name[len(SHARED_PREFIX):]
    return tenant_id, name


class PromptResolver:
    def __init__(self, engine: AsyncEngine, ttl: float = 1.0, load_timeout: float = 2.0) -> None:
        self._engine = engine
        self._ttl = ttl
        self._load_timeout = load_timeout
        self._contents: dict[tuple[str, str, int], dict[str, Any]] = {}
        self._pointers: dict[Key, _Pointer] = {}
        self._loading: dict[Key, asyncio.Future[_Pointer]] = {}
        self._refreshing: set[asyncio.Task[None]] = set()
        self._generation = 0
        self.loads = 0              # pointer reads from the database (tests)

    async def resolve(self, tenant_id: str, name: str, selector: str | None, param: str = "prompt") -> Resolved:
        owner, prompt_id = owner_and_id(tenant_id, name)
        number = as_version(selector) if selector is not None else None
        if number is not None:
            version = number
        else:
            version = await self._pointer(owner, prompt_id, selector or LATEST, param)
        content = self._contents.get((owner, prompt_id, version))
        if content is None:
            content = await self._content(owner, prompt_id, version, param)
        return Resolved(recorded_id=name, version=version, content=content)

    def apply(self, change: Change) -> None:
        """Drops the label pointers `change` may have moved (contents are immutable: kept)."""
        if change.kind is ChangeKind.ALL:
            self._generation += 1
            self._pointers.clear()
        elif change.kind is ChangeKind.PROMPT:
            self._generation += 1
            owner, _, prompt_id = change.id.partition("/")
            for key in [k for k in self._pointers if k[0] == owner and k[1] == prompt_id]:
                del self._pointers[key]

    # -- label -> version ------------------------------------------------------------------

    async def _pointer(self, owner: str, prompt_id: str, label: str, param: str) -> int:
        key = (owner, prompt_id, label)
        pointer = self._pointers.get(key)
        now = time.monotonic()
        if pointer is not None and now - pointer.fetched_at < self._ttl:
            if now - pointer.fetched_at >= self._ttl / 2 and key not in self._loading:
                self._refresh_soon(key)
        else:
            try:
                async with asyncio.timeout(self._load_timeout):
                    pointer = await self._load_once(key)
            except (SQLAlchemyError, OSError, TimeoutError) as exc:
                if pointer is None:
                    raise ServiceUnavailable("Prompts cannot be read right now; retry shortly.") from None
                log.warning("prompt resolver: database unreachable, serving the cached label",
                            extra={"error": type(exc).__name__})
                pointer.fetched_at = time.monotonic()
        if pointer.version is None:
            raise _unknown(owner, prompt_id, label, pointer.exists, param)
        return pointer.version

    def _refresh_soon(self, key: Key) -> None:
        async def refresh() -> None:
            try:
                async with asyncio.timeout(self._load_timeout):
                    await self._load_once(key)
            except (SQLAlchemyError, OSError, TimeoutError) as exc:
                log.debug("prompt resolver: background re-read failed", extra={"error": type(exc).__name__})

        task = asyncio.get_running_loop().create_task(refresh())
        self._refreshing.add(task)
        task.add_done_callback(self._refreshing.discard)

    async def _load_once(self, key: Key) -> _Pointer:
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[_Pointer] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        generation = self._generation
        try:
            self.loads += 1
            pointer = await self._read_pointer(*key)
        except BaseException as exc:
            shared = TimeoutError("prompt lookup abandoned") if isinstance(exc, asyncio.CancelledError) else exc
            future.set_exception(shared)
            future.exception()
            raise
        finally:
            self._loading.pop(key, None)
        future.set_result(pointer)
        if generation == self._generation:     # nothing moved while we read: keep it
            if len(self._pointers) >= _MAX_ENTRIES:
                self._pointers.clear()
            self._pointers[key] = pointer
        return pointer

    async def _read_pointer(self, owner: str, prompt_id: str, label: str) -> _Pointer:
        if label == LATEST:
            version = sa.select(sa.func.max(prompt_versions.c.version)).where(
                prompt_versions.c.owner == owner, prompt_versions.c.prompt_id == prompt_id).scalar_subquery()
        else:
            version = sa.select(prompt_labels.c.version).where(
                prompt_labels.c.owner == owner, prompt_labels.c.prompt_id == prompt_id,
                prompt_labels.c.label == label).scalar_subquery()
        query = sa.select(prompts.c.id, version.label("version")).where(prompts.c.owner == owner,
                                                                        prompts.c.id == prompt_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return _Pointer(None, False, time.monotonic())
        return _Pointer(row.version, True, time.monotonic())

    # -- version -> content ----------------------------------------------------------------

    async def _content(self, owner: str, prompt_id: str, version: int, param: str) -> dict[str, Any]:
        query = sa.select(prompt_versions.c.content).where(
            prompt_versions.c.owner == owner, prompt_versions.c.prompt_id == prompt_id,
            prompt_versions.c.version == version)
        try:
            async with asyncio.timeout(self._load_timeout), self._engine.connect() as conn:
                content = await conn.scalar(query)
                exists = content is not None or await conn.scalar(
                    sa.select(prompts.c.id).where(prompts.c.owner == owner, prompts.c.id == prompt_id)) is not None
        except (SQLAlchemyError, OSError, TimeoutError):
            raise ServiceUnavailable("Prompts cannot be read right now; retry shortly.") from None
        if content is None:    # not cached: the version may yet be written
            raise _unknown(owner, prompt_id, str(version), exists, param)
        if len(self._contents) >= _MAX_ENTRIES:
            self._contents.clear()
        self._contents[(owner, prompt_id, version)] = content
        return dict(content)


def _unknown(owner: str, prompt_id: str, selector: str, exists: bool, param: str) -> InvalidRequest:
    name = SHARED_PREFIX + prompt_id if owner == SHARED else prompt_id
    if not exists:
        # The same answer for another tenant's prompt: nobody learns what others have stored.
        return InvalidRequest(f"Prompt `{name}` not found.", param=f"{param}.id" if param == "prompt" else param,
                              code="prompt_not_found")
    what = "version" if as_version(selector) is not None else "label"
    return InvalidRequest(f"Prompt `{name}` has no {what} `{selector}`.",
                          param=f"{param}.version" if param == "prompt" else param, code="prompt_version_not_found")
