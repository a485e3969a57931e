"""Durations, change messages, and the checks on what operators ask for."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.tenancy.changes import Change, ChangeKind
from gateway.tenancy.durations import parse_duration
from gateway.tenancy.validation import (
    PII_MODES,
    TenancyError,
    check_limits,
    check_mode,
    check_models,
    check_tenant_name,
    check_tier,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("90s", timedelta(seconds=90)), ("15m", timedelta(minutes=15)), ("1h", timedelta(hours=1)),
    ("30d", timedelta(days=30)), ("2w", timedelta(weeks=2)), (" 1.5h ", timedelta(minutes=90)),
])
def test_durations_read_as_operators_write_them(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "1y", "-1h", "h", "1 hour", "99999d", True, "45", 600, 0, "0s", "0d", -5])
def test_bad_durations_are_refused(text: object) -> None:
    """A bare number is ambiguous (was: seconds), and a zero expiry once meant "never expires"."""
    with pytest.raises(ValueError):
        parse_duration(text)


def test_a_grace_period_may_be_zero() -> None:
    assert parse_duration("0s", allow_zero=True) == timedelta(0)


def test_changes_round_trip_and_foreign_messages_are_ignored() -> None:
    for change in (Change(ChangeKind.KEY, "key_1"), Change(ChangeKind.TENANT, "ten_1"), Change(ChangeKind.ALL)):
        assert Change.decode(change.encode()) == change
    for junk in (b"", b"not json", b"[]", b'{"kind": "nope"}', b"{}", b'"key"'):
        assert Change.decode(junk) is None


def test_allowlist_entries_must_name_catalog_models_or_be_globs() -> None:
    known = {"gpt-4o", "gpt-4o-mini", "auto"}
    assert check_models([" gpt-4o ", "auto", "claude*", "gpt-4o"], known) == ["gpt-4o", "auto", "claude*"]
    with pytest.raises(TenancyError, match="unknown model or alias 'gpt4o'"):
        check_models(["gpt4o"], known)
    with pytest.raises(TenancyError):
        check_models([""], known)


def test_limits_are_known_non_negative_numbers_or_null() -> None:
    assert check_limits({"rpm": 5, "tpm": None, "monthly_usd": 2.5, "rpd": 7.0}) == \
        {"rpm": 5, "tpm": None, "monthly_usd": 2.5, "rpd": 7}
    for bad in ({"rpm": -1}, {"rpm": "5"}, {"rpm": True}, {"burst": 1}, {"rpm": 1.5}):
        with pytest.raises(TenancyError):
            check_limits(bad)


def test_modes_tiers_and_names() -> None:
    assert check_mode("default", PII_MODES, "PII mode") is None
    assert check_mode("block", PII_MODES, "PII mode") == "block"
    with pytest.raises(TenancyError, match="unknown PII mode"):
        check_mode("shout", PII_MODES, "PII mode")
    with pytest.raises(TenancyError, match="known: free, pro"):
        check_tier("gold", ["free", "pro"])
    with pytest.raises(TenancyError, match="reserved"):
        check_tenant_name("admin")
    with pytest.raises(TenancyError):
        check_tenant_name("Bad-Name")
