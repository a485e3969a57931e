"""A configured admin key that could be guessed is refused, naming what is wrong."""

from __future__ import annotations

import secrets

import pytest

from gateway.tenancy.admin_key import WeakAdminKey, check_admin_key_strength


@pytest.mark.parametrize(("key", "says"), [
    ("...", "placeholder"),                 # pasted from the README's `export GATEWAY_ADMIN_KEY=...`
    ("x", "placeholder"),
    ("changeme", "placeholder"),
    ("s3cret-admin", "at least 32"),
    ("a" * 64, "hard to guess"),
    ("12341234" * 6, "hard to guess"),
])
def test_weak_admin_keys_are_refused(key: str, says: str) -> None:
    with pytest.raises(WeakAdminKey, match=says) as refused:
        check_admin_key_strength(key)
    assert "secrets.token_urlsafe" in str(refused.value)    # and it says how to make a good one


@pytest.mark.parametrize("key", ["sk-admin-" + secrets.token_urlsafe(32), secrets.token_hex(24),
                                 "sk-admin-test-0123456789abcdef0123456789abcdef"])
def test_strong_admin_keys_are_accepted(key: str) -> None:
    check_admin_key_strength(key)


def test_an_empty_admin_key_variable_means_none_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """compose.yaml and templates pass GATEWAY_ADMIN_KEY="" when none is set: generate one."""
    from gateway.settings import Settings

    monkeypatch.setenv("GATEWAY_ADMIN_KEY", "")
    assert Settings().admin_key is None
