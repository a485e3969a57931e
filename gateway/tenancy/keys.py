"""API key format and hashing. A key exists in clear only in the response that issues it;
everything else sees its SHA-256 and a short display prefix."""

from __future__ import annotations

import hashlib
import re
import secrets

KEY_RANDOM_BYTES = 32                 # 43 url-safe characters
DISPLAY_PREFIX_RANDOM_CHARS = 4
_TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,62}$")   # no '-': it separates the key's parts
_KEY_SHAPE = re.compile(r"^sk-[a-z0-9_]{1,63}-[A-Za-z0-9_-]{32,}$")
ADMIN_KEY_TENANT = "admin"            # admin keys read `sk-admin-...`: no tenant may take the name


def valid_tenant_name(name: str) -> bool:
    return bool(_TENANT_NAME.match(name)) and name != ADMIN_KEY_TENANT


def generate_key(tenant: str) -> str:
    return f"sk-{tenant}-{secrets.token_urlsafe(KEY_RANDOM_BYTES)}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_admin_key() -> str:
    return generate_key(ADMIN_KEY_TENANT)


def display_prefix(key: str) -> str:
    # Split at the second '-': the random part is url-safe and may hold '-' itself.
    scheme, tenant, random_part = key.split("-", 2)
    return f"{scheme}-{tenant}-{random_part[:DISPLAY_PREFIX_RANDOM_CHARS]}..."


def looks_like_key(key: str) -> bool:
    """Cheap shape check before any lookup: junk never reaches the key store."""
    return len(key) <= 200 and bool(_KEY_SHAPE.match(key))


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"
