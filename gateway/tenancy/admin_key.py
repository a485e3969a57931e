"""The admin key: GATEWAY_ADMIN_KEY when set; otherwise one generated at the first start of a
gateway on its database, printed that once, and stored as its SHA-256 only (table admin_keys).

Every replica on the same database accepts the stored key. To replace a lost one, run
`llm-gateway admin-key reset` against the database: it prints a new key and the old one stops
working within a second on every replica. GATEWAY_ADMIN_KEY, when set, wins over the stored key.
"""

from __future__ import annotations

import hmac
import math
import time
from collections import Counter
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.tenancy import audit
from gateway.tenancy.keys import display_prefix, generate_admin_key, hash_key
from gateway.tenancy.tables import admin_keys

_ROW_ID = "default"
_TARGET = "admin_key"

MIN_ADMIN_KEY_LENGTH = 32
MIN_ADMIN_KEY_BITS = 128.0
# What people paste from docs and examples; the README's own placeholder is "...".
_PLACEHOLDERS = {"...", "changeme", "change-me", "secret", "admin", "password", "<admin key>", "sk-admin-..."}
GENERATE_HINT = "python3 -c \"import secrets; print('sk-admin-' + secrets.token_urlsafe(32))\""


class WeakAdminKey(ValueError):
    """GATEWAY_ADMIN_KEY is too short, too repetitive, or a placeholder from the docs."""


def check_admin_key_strength(key: str) -> None:
    """Refuses a configured admin key that could be guessed: at least 32 characters and about
    128 bits by the characters' spread (Shannon entropy of the key's own letters times its
    length: a rough floor that catches `aaaa...` and `12341234...`, not a proof of randomness)."""
    stripped = key.strip()
    if stripped.lower() in _PLACEHOLDERS or set(stripped) <= {".", "x", "X", "*", "<", ">"}:
        raise WeakAdminKey(f"GATEWAY_ADMIN_KEY is {stripped!r}, a placeholder (the README writes '...' for the "
                           f"value you must supply); generate one: {GENERATE_HINT}")
    if len(stripped) < MIN_ADMIN_KEY_LENGTH:
        raise WeakAdminKey(f"GATEWAY_ADMIN_KEY has {len(stripped)} characters; it needs at least "
                           f"{MIN_ADMIN_KEY_LENGTH}. Generate one: {GENERATE_HINT}")
    if _entropy_bits(stripped) < MIN_ADMIN_KEY_BITS:
        raise WeakAdminKey("GATEWAY_ADMIN_KEY repeats too few characters to be hard to guess "
                           f"(under {MIN_ADMIN_KEY_BITS:.0f} bits). Generate one: {GENERATE_HINT}")


def _entropy_bits(text: str) -> float:
    counts = Counter(text)
    total = len(text)
    return -total * sum(n / total * math.log2(n / total) for n in counts.values())


class AdminKey:
    """Checks a presented admin key against the configured one or the stored hash."""

    def __init__(self, engine: AsyncEngine, configured: str | None, ttl: float = 1.0) -> None:
        self._engine = engine
        self._configured_hash = hash_key(configured) if configured else None
        self._ttl = ttl
        self._stored: tuple[str | None, float] | None = None

    @property
    def from_environment(self) -> bool:
        return self._configured_hash is not None

    async def matches(self, token: str | None) -> bool:
        digest = hash_key(token or "")
        expected = self._configured_hash or await self._stored_hash()
        return bool(token) and expected is not None and hmac.compare_digest(digest, expected)

    async def _stored_hash(self) -> str | None:
        """Re-read at most once per `ttl` (a reset elsewhere applies within it; a flood of wrong
        keys costs no query each)."""
        if self._stored is not None and time.monotonic() - self._stored[1] < self._ttl:
            return self._stored[0]
        async with self._engine.connect() as conn:
            digest = await conn.scalar(sa.select(admin_keys.c.key_hash).where(admin_keys.c.id == _ROW_ID))
        self._stored = (digest, time.monotonic())
        return digest


async def open_admin_key(engine: AsyncEngine, configured: str | None) -> tuple[AdminKey, str | None]:
    """The admin key checker, and the new key in clear if this call generated it (first start):
    the caller prints it once. Concurrent first starts agree on one key: the insert that loses
    the race generates nothing."""
    if configured:
        check_admin_key_strength(configured)
    checker = AdminKey(engine, configured)
    if configured:
        return checker, None
    async with engine.connect() as conn:
        exists = await conn.scalar(sa.select(admin_keys.c.id).where(admin_keys.c.id == _ROW_ID))
    if exists:
        return checker, None
    key = generate_admin_key()
    row = {"id": _ROW_ID, "key_hash": hash_key(key), "prefix": display_prefix(key), "created_at": datetime.now(UTC)}
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.insert(admin_keys).values(**row))
            await audit.record(conn, actor="bootstrap", action="admin_key.create", target=_TARGET,
                               before=None, after=_public(row))
    except IntegrityError:
        return checker, None
    return checker, key


async def reset_admin_key(engine: AsyncEngine, *, actor: str, request_id: str | None = None) -> str:
    """Replaces the stored admin key; returns the new one (print it once, never store it)."""
    key = generate_admin_key()
    row = {"id": _ROW_ID, "key_hash": hash_key(key), "prefix": display_prefix(key), "created_at": datetime.now(UTC)}
    async with engine.begin() as conn:
        old = (await conn.execute(sa.select(admin_keys).where(admin_keys.c.id == _ROW_ID))).first()
        if old is None:
            await conn.execute(sa.insert(admin_keys).values(**row))
        else:
            await conn.execute(sa.update(admin_keys).where(admin_keys.c.id == _ROW_ID)
                               .values(key_hash=row["key_hash"], prefix=row["prefix"], created_at=row["created_at"]))
        await audit.record(conn, actor=actor, action="admin_key.reset", target=_TARGET,
                           before=_public(old._asdict()) if old is not None else None, after=_public(row),
                           request_id=request_id)
    return key


def _public(row: dict[str, object]) -> dict[str, object]:
    created = row["created_at"]
    return {"prefix": row["prefix"], "created_at": created.isoformat() if isinstance(created, datetime) else created}
