"""Pure helpers behind the pages: the audit difference, the pending login cookie and the
return path after login (never another site)."""

from __future__ import annotations

from gateway.console.oidc import Pending
from gateway.console.pages_audit import difference
from gateway.console.web import safe_next


def test_the_audit_difference_lists_changed_fields_only() -> None:
    before = {"id": "ten_1", "tier": "free", "models": ["a"], "limits": {}, "disabled": False, "updated_at": "t1"}
    after = {"id": "ten_1", "tier": "pro", "models": ["a"], "limits": {"rpm": None}, "disabled": False,
             "updated_at": "t2"}
    assert difference(before, after) == [
        {"field": "tier", "before": "free", "after": "pro"},
        {"field": "limits", "before": "(none)", "after": "rpm=unlimited"},
    ]


def test_a_creation_shows_what_it_set_and_nothing_empty() -> None:
    rows = difference(None, {"id": "key_1", "prefix": "sk-a-xyz...", "label": None, "revoked_at": None})
    assert rows == [{"field": "prefix", "before": None, "after": "sk-a-xyz..."}]


def test_the_pending_login_round_trips_and_garbage_is_none() -> None:
    pending = Pending(state="s", nonce="n", verifier="v", next="/admin/ui/usage")
    assert Pending.decode(pending.encode()) == pending
    assert Pending.decode("not base64 json") is None
    assert Pending.decode(None) is None


def test_only_console_paths_are_returned_to() -> None:
    assert safe_next("/admin/ui/tenants/a?x=1") == "/admin/ui/tenants/a?x=1"
    for hostile in ("https://evil.example/", "//evil.example/admin/ui/", "/admin/ui/..//evil", "/admin/uix", None):
        assert safe_next(hostile) == "/admin/ui/"
