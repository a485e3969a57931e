"""Checks on what an operator asks for (CLI or admin API), with messages that say how to fix it."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from gateway.tenancy.keys import ADMIN_KEY_TENANT, valid_tenant_name
from gateway.tenancy.models import LIMIT_NAMES, is_glob

PII_MODES = ("redact", "block", "monitor", "off")
CACHE_MODES = ("exact", "semantic", "off")
VALIDATION_MODES = ("pass", "retry", "reject")   # an answer that fails its JSON Schema
DEFAULT_MODE = "default"          # a mode value that means "what the catalog says"
_MAX_ENTRY = 128
_MAX_LABEL = 128


class TenancyError(ValueError):
    """A tenant or key operation cannot be done as asked (the message says why)."""


class NotFoundError(TenancyError):
    pass


def check_tenant_name(name: str) -> str:
    if name == ADMIN_KEY_TENANT:
        raise TenancyError(f"the tenant name {ADMIN_KEY_TENANT!r} is reserved (admin keys read sk-admin-...)")
    if not valid_tenant_name(name):
        raise TenancyError("tenant names are 1-63 characters of a-z, 0-9 and _, starting with a letter or digit")
    return name


def check_tier(tier: str, tiers: Collection[str]) -> str:
    if tier not in tiers:
        raise TenancyError(f"unknown tier {tier!r} (known: {', '.join(tiers)})")
    return tier


def check_models(entries: Iterable[str], known: Collection[str]) -> list[str]:
    """Allowlist entries: catalog model names, alias names, or glob patterns (`gpt-4o*`, `*`).
    A plain name the catalog does not define is refused: it is almost always a typo."""
    out: list[str] = []
    for raw in entries:
        entry = raw.strip()
        if not entry or len(entry) > _MAX_ENTRY:
            raise TenancyError(f"allowlist entries are 1-{_MAX_ENTRY} characters")
        if known and not is_glob(entry) and entry not in known:
            raise TenancyError(f"unknown model or alias {entry!r} (known: {', '.join(sorted(known))}; "
                               "or use a glob such as 'gpt-4o*')")
        if entry not in out:
            out.append(entry)
    return out


def check_limits(limits: dict[str, Any]) -> dict[str, Any]:
    """Per-tenant overrides of the tier: a non-negative number, or None for unlimited."""
    unknown = set(limits) - set(LIMIT_NAMES)
    if unknown:
        raise TenancyError(f"unknown limit {sorted(unknown)[0]!r} (known: {', '.join(LIMIT_NAMES)})")
    for name, value in limits.items():
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool) or value < 0):
            raise TenancyError(f"limit {name!r} must be a non-negative number, or null for unlimited")
        if name != "monthly_usd" and isinstance(value, float) and not value.is_integer():
            raise TenancyError(f"limit {name!r} must be a whole number")
    return {name: (int(value) if name != "monthly_usd" and value is not None else value)
            for name, value in limits.items()}


def check_mode(value: str | None, allowed: tuple[str, ...], what: str) -> str | None:
    """A policy mode; None or "default" both mean the catalog's setting."""
    if value is None or value == DEFAULT_MODE:
        return None
    if value not in allowed:
        raise TenancyError(f"unknown {what} {value!r} (known: {', '.join((*allowed, DEFAULT_MODE))})")
    return value


def check_label(label: str | None) -> str | None:
    if label is not None and len(label) > _MAX_LABEL:
        raise TenancyError(f"a key label is at most {_MAX_LABEL} characters")
    return label
