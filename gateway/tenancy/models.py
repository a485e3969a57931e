"""What the request path knows about a caller: its tenant and the key it used."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

LIMIT_NAMES = ("rpm", "rpd", "tpm", "daily_tokens", "monthly_usd")


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything here is stored in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True, slots=True)
class Limits:
    """Effective limits; None means unlimited."""

    rpm: int | None = None
    rpd: int | None = None
    tpm: int | None = None
    daily_tokens: int | None = None
    monthly_usd: Decimal | None = None

    @classmethod
    def merged(cls, *layers: dict[str, Any] | None) -> Limits:
        """Later layers win (tier defaults, then tenant overrides)."""
        values: dict[str, Any] = {}
        for layer in layers:
            for name, value in (layer or {}).items():
                if name in LIMIT_NAMES:
                    values[name] = value
        if values.get("monthly_usd") is not None:
            values["monthly_usd"] = Decimal(str(values["monthly_usd"]))
        return cls(**values)


def is_glob(entry: str) -> bool:
    return any(c in entry for c in "*?[")


def matches_allowlist(entries: Iterable[str], name: str) -> bool:
    return any(entry == name or (is_glob(entry) and fnmatch.fnmatchcase(name, entry)) for entry in entries)


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    tier: str
    models: tuple[str, ...]            # allowlist entries: model names, aliases, glob patterns
    limit_overrides: dict[str, Any] = field(default_factory=dict)
    pii_mode: str | None = None
    cache_mode: str | None = None
    validation_mode: str | None = None   # None: gateway.yaml's validation.default
    disabled: bool = False
    # The catalog names the allowlist lets this tenant call, resolved once when the tenant is
    # loaded (gateway/tenancy/allowlist.py): an alias is in it only if it reaches an allowed model.
    allowed_names: frozenset[str] | None = None

    def allows(self, name: str) -> bool:
        if self.allowed_names is not None:
            return name in self.allowed_names
        return matches_allowlist(self.models, name)


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    tenant_id: str
    prefix: str
    label: str | None
    expires_at: datetime | None
    revoked_at: datetime | None
    limits: dict[str, Any] | None = None

    def usable_at(self, now: datetime) -> bool:
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True, slots=True)
class Principal:
    tenant: Tenant
    key: ApiKey
