"""Key format and hashing, allowlist matching, limit layering, key usability."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from gateway.tenancy.keys import (
    display_prefix,
    generate_admin_key,
    generate_key,
    hash_key,
    looks_like_key,
    valid_tenant_name,
)
from gateway.tenancy.models import ApiKey, Limits, Tenant


def test_a_key_is_sk_tenant_and_43_url_safe_random_characters() -> None:
    key = generate_key("acme_corp")
    assert re.fullmatch(r"sk-acme_corp-[A-Za-z0-9_-]{43}", key)
    assert looks_like_key(key)
    assert generate_key("acme_corp") != key


def test_the_stored_forms_are_the_sha256_and_a_prefix_too_short_to_use() -> None:
    key = generate_key("acme")
    random_part = key.split("-", 2)[2]
    assert hash_key(key) == hashlib.sha256(key.encode()).hexdigest()
    prefix = display_prefix(key)
    assert prefix == f"sk-acme-{random_part[:4]}..."
    assert random_part not in prefix


def test_a_dash_inside_the_random_part_does_not_widen_the_prefix() -> None:
    key = "sk-acme-Ab-" + "c" * 40 + "-dE"
    assert display_prefix(key) == "sk-acme-Ab-c..."


@pytest.mark.parametrize("junk", ["", "sk-", "sk-acme-short", "Bearer sk-acme-" + "a" * 40, "sk-ACME-" + "a" * 40,
                                  "sk-acme-" + "a" * 40 + "!", "sk-acme-" + "a" * 300, "pk-acme-" + "a" * 40])
def test_malformed_keys_are_refused_before_any_lookup(junk: str) -> None:
    assert not looks_like_key(junk)


def test_tenant_names_cannot_hold_the_separator_nor_take_the_admin_prefix() -> None:
    assert valid_tenant_name("team_a1")
    assert not valid_tenant_name("team-a")
    assert not valid_tenant_name("Team")
    assert not valid_tenant_name("admin")
    assert generate_admin_key().startswith("sk-admin-")


def test_allowlist_entries_match_names_and_globs_exactly() -> None:
    tenant = Tenant(id="t", name="t", tier="pro", models=("gpt-4o*", "claude-sonnet-4", "auto"))
    assert tenant.allows("gpt-4o")
    assert tenant.allows("gpt-4o-mini")
    assert tenant.allows("claude-sonnet-4")
    assert tenant.allows("auto")
    assert not tenant.allows("claude-sonnet-4-extra")
    assert not tenant.allows("xgpt-4o")
    assert not Tenant(id="t", name="t", tier="pro", models=()).allows("gpt-4o")


def test_a_resolved_allowlist_is_what_allows_answers() -> None:
    tenant = Tenant(id="t", name="t", tier="pro", models=("*",), allowed_names=frozenset({"mock-echo"}))
    assert tenant.allows("mock-echo")
    assert not tenant.allows("auto")


def test_tenant_overrides_win_over_the_tier_and_null_means_unlimited() -> None:
    limits = Limits.merged({"rpm": 10, "tpm": 1000, "monthly_usd": 5}, {"rpm": 50, "tpm": None}, None)
    assert limits == Limits(rpm=50, tpm=None, monthly_usd=Decimal("5"))
    assert Limits.merged({"rpm": 10, "unknown": 3}) == Limits(rpm=10)


def test_a_key_is_usable_until_revoked_or_expired() -> None:
    now = datetime.now(UTC)
    def key(**kw: datetime | None) -> ApiKey:
        return ApiKey(id="k", tenant_id="t", prefix="p", label=None,
                      expires_at=kw.get("expires_at"), revoked_at=kw.get("revoked_at"))
    assert key().usable_at(now)
    assert not key(revoked_at=now).usable_at(now)
    assert key(revoked_at=now + timedelta(hours=1)).usable_at(now)      # a rotation's grace period
    assert not key(revoked_at=now + timedelta(hours=1)).usable_at(now + timedelta(hours=1))
    assert key(expires_at=now + timedelta(seconds=1)).usable_at(now)
    assert not key(expires_at=now).usable_at(now)
