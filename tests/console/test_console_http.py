"""The console and the admin API over HTTP, on PostgreSQL: sign-in with the admin key, roles
enforced on the server for pages, forms and the API, CSRF on every change, expiry and
logout, the key shown once, and audit rows naming the person."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.identity.roles import Role
from gateway.identity.sessions import COOKIE
from gateway.settings import Settings
from tests.conftest import unique
from tests.console.support import UI, ConsoleClient, expire_session
from tests.support.gateway import RunningGateway


def test_pages_need_a_session_and_the_admin_key_signs_in(console_gw: RunningGateway) -> None:
    with ConsoleClient(console_gw) as client:
        response = client.get(f"{UI}/tenants?q=a")
        assert response.status_code == 303
        assert response.headers["location"] == f"{UI}/login?next=/admin/ui/tenants%3Fq%3Da"
        assert client.sign_in_with_admin_key("sk-admin-wrong").status_code == 401
        signed_in = client.sign_in_with_admin_key()
        assert signed_in.status_code == 303
        cookie = signed_in.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=28800" in cookie
        assert "Secure" not in cookie   # plain http on loopback; https or GATEWAY_CONSOLE_URL=https://... adds it
        for page in ("/", "/usage", "/tenants", "/audit", "/providers", "/usage.csv?since=7d"):
            response = client.get(UI + page)
            assert response.status_code == 200, (page, response.text[:300])
        home = client.get(f"{UI}/")
        assert "script-src 'self'" in home.headers["content-security-policy"]
        assert home.headers["cache-control"] == "no-store"


def test_behind_https_the_session_cookie_is_secure(console_gw: RunningGateway) -> None:
    """A TLS-terminating proxy on loopback says https (uvicorn trusts its forwarded headers)."""
    with ConsoleClient(console_gw) as client:
        response = client.post(f"{UI}/login", data={"admin_key": console_gw.admin_key},
                               headers={"x-forwarded-proto": "https"})
        assert response.status_code == 303
        assert "Secure" in response.headers["set-cookie"]


def test_login_never_returns_to_another_site(console_gw: RunningGateway) -> None:
    with ConsoleClient(console_gw) as client:
        response = client.post(f"{UI}/login", data={"admin_key": console_gw.admin_key,
                                                    "next": "https://evil.example/admin/ui/"})
        assert response.headers["location"] == f"{UI}/"


def test_an_admin_creates_a_tenant_and_a_key_shown_once_and_the_audit_names_the_person(
        console_gw: RunningGateway) -> None:
    tenant = unique("con")
    with ConsoleClient(console_gw) as client:
        client.sign_in_as(Role.ADMIN, email="alice@example.com", subject="alice-sub")
        csrf = client.csrf()
        created = client.form(f"{UI}/tenants", csrf=csrf, name=tenant, tier="pro", models="*")
        assert created.status_code == 303 and created.headers["location"].endswith(f"/tenants/{tenant}?ok=created")
        issued = client.form(f"{UI}/tenants/{tenant}/keys", csrf=csrf, label="svc", expires_in="30d")
        assert issued.status_code == 201
        keys = re.findall(rf"sk-{tenant}-[A-Za-z0-9_-]{{20,}}", issued.text)
        assert len(set(keys)) == 1
        key = keys[0]
        assert key not in client.get(f"{UI}/tenants/{tenant}").text   # shown once
        chat = httpx.post(console_gw.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                          json={"model": "mock-echo", "messages": [{"role": "user", "content": "hi"}]}, timeout=30)
        assert chat.status_code == 200, chat.text
        audit = console_gw.admin("GET", "/admin/audit", params={"target": tenant}).json()["data"]
        assert [(e["action"], e["actor"], e["actor_subject"], e["actor_email"]) for e in audit] == [
            ("tenant.create", "alice@example.com", "alice-sub", "alice@example.com")]
        page = client.get(f"{UI}/audit", params={"target": tenant}).text
        assert "alice@example.com" in page and "tenant.create" in page


def test_settings_are_saved_from_the_form_and_bad_values_are_explained(console_gw: RunningGateway) -> None:
    tenant = console_gw.create_tenant(unique("con"))
    with ConsoleClient(console_gw) as client:
        client.sign_in_as(Role.OPERATOR, email="ops@example.com")
        csrf = client.csrf()
        saved = client.form(f"{UI}/tenants/{tenant}", csrf=csrf, tier="pro", models="mock-echo, gpt-4o*",
                            rpm="50", tpm="unlimited", rpd="", daily_tokens="", monthly_usd="12.5",
                            pii_mode="block", cache_mode="default", validation_mode="retry")
        assert saved.status_code == 303, saved.text[:500]
        shown = console_gw.admin("GET", f"/admin/tenants/{tenant}").json()
        assert shown["limits"] == {"rpm": 50, "tpm": None, "monthly_usd": 12.5}
        assert (shown["models"], shown["pii_mode"]) == (["mock-echo", "gpt-4o*"], "block")
        assert shown["validation_mode"] == "retry"
        assert '<option selected>retry</option>' in client.get(f"{UI}/tenants/{tenant}").text
        bad = client.form(f"{UI}/tenants/{tenant}", csrf=csrf, tier="pro", models="*", rpm="lots")
        assert bad.status_code == 400 and "is not a number" in bad.text
        unknown = client.form(f"{UI}/tenants/{tenant}", csrf=csrf, tier="gold", models="*")
        assert unknown.status_code == 400 and "unknown tier" in unknown.text


def test_a_viewer_sees_no_change_controls_and_forged_changes_get_403(console_gw: RunningGateway) -> None:
    tenant = console_gw.create_tenant(unique("con"))
    key_id = console_gw.admin("POST", f"/admin/tenants/{tenant}/keys", json={}).json()["id"]
    with ConsoleClient(console_gw) as client:
        client.sign_in_as(Role.VIEWER, email="victor@example.com")
        page = client.get(f"{UI}/tenants/{tenant}").text
        assert "<form method=\"post\" action=\"/admin/ui/keys" not in page
        assert "Create key" not in page and "Save settings" not in page and "Disable tenant" not in page
        assert "New tenant" not in client.get(f"{UI}/tenants").text
        csrf = client.csrf()   # the viewer's own, valid token: the role alone must refuse
        for path, fields in ((f"{UI}/keys/{key_id}/revoke", {"tenant": tenant}),
                             (f"{UI}/tenants/{tenant}/keys", {}),
                             (f"{UI}/tenants/{tenant}/disable", {}),
                             (f"{UI}/tenants", {"name": unique("con"), "tier": "pro"})):
            assert client.form(path, csrf=csrf, **fields).status_code == 403, path
        api = client.post(f"/admin/keys/{key_id}/revoke", headers={"x-csrf-token": csrf})
        assert api.status_code == 403 and api.json()["error"]["code"] == "insufficient_role"
        assert client.get(f"/admin/tenants/{tenant}/keys").status_code == 200   # reading is allowed
    assert console_gw.admin("GET", f"/admin/keys/{key_id}").json()["state"] == "active"


def test_an_operator_manages_keys_but_not_tenants(console_gw: RunningGateway) -> None:
    tenant = console_gw.create_tenant(unique("con"))
    with ConsoleClient(console_gw) as client:
        client.sign_in_as(Role.OPERATOR, email="ops@example.com")
        csrf = client.csrf()
        assert client.form(f"{UI}/tenants/{tenant}/keys", csrf=csrf).status_code == 201
        assert client.form(f"{UI}/tenants/{tenant}/disable", csrf=csrf).status_code == 403
        api = client.patch(f"/admin/tenants/{tenant}", json={"disabled": True}, headers={"x-csrf-token": csrf})
        assert api.status_code == 403
        key_id = client.get(f"/admin/tenants/{tenant}/keys").json()["data"][0]["id"]
        rotated = client.form(f"{UI}/keys/{key_id}/rotate", csrf=csrf, tenant=tenant, grace="15m")
        assert rotated.status_code == 201 and f"replaces {key_id}" in rotated.text
        assert console_gw.admin("GET", f"/admin/keys/{key_id}").json()["state"] == "rotating"
        revoked = client.form(f"{UI}/keys/{key_id}/revoke", csrf=csrf, tenant=tenant)
        assert revoked.status_code == 303
    assert console_gw.admin("GET", f"/admin/keys/{key_id}").json()["state"] == "revoked"


def test_a_change_without_the_csrf_token_is_refused(console_gw: RunningGateway) -> None:
    tenant = console_gw.create_tenant(unique("con"))
    with ConsoleClient(console_gw) as client:
        client.sign_in_as(Role.ADMIN, email="alice@example.com")
        assert client.form(f"{UI}/tenants/{tenant}/disable", confirm="yes").status_code == 403
        assert client.form(f"{UI}/tenants/{tenant}/disable", csrf="forged").status_code == 403
        assert client.post(f"{UI}/tenants/{tenant}/disable", json={"csrf": client.csrf()}).status_code == 400
        api = client.post(f"/admin/tenants/{tenant}/disable")
        assert api.status_code == 403 and api.json()["error"]["code"] == "csrf_token_invalid"
    assert console_gw.admin("GET", f"/admin/tenants/{tenant}").json()["disabled"] is False


def test_an_expired_session_and_a_logged_out_one_return_to_the_login_page(console_gw: RunningGateway) -> None:
    with ConsoleClient(console_gw) as client:
        token = client.sign_in_as(Role.ADMIN, email="alice@example.com")
        assert client.get(f"{UI}/").status_code == 200
        expire_session(console_gw, token)
        assert client.get(f"{UI}/usage").headers["location"].startswith(f"{UI}/login")
        assert client.get("/admin/tenants").status_code == 401
    with ConsoleClient(console_gw) as client:
        token = client.sign_in_as(Role.ADMIN)
        assert client.post(f"{UI}/logout").headers["location"] == f"{UI}/login?signed_out=1"
    with ConsoleClient(console_gw) as replay:   # the old cookie is dead on the server, not just cleared
        replay.cookies.set(COOKIE, token, domain="127.0.0.1", path="/admin")
        assert replay.get(f"{UI}/").status_code == 303


def test_disable_and_enable_from_the_console_and_unknown_names_get_a_page(console_gw: RunningGateway) -> None:
    tenant = console_gw.create_tenant(unique("con"))
    with ConsoleClient(console_gw) as client:
        client.sign_in_as(Role.ADMIN, email="alice@example.com")
        csrf = client.csrf()
        assert client.form(f"{UI}/tenants/{tenant}/disable", csrf=csrf).status_code == 303
        assert console_gw.admin("GET", f"/admin/tenants/{tenant}").json()["disabled"] is True
        assert client.form(f"{UI}/tenants/{tenant}/enable", csrf=csrf).status_code == 303
        assert console_gw.admin("GET", f"/admin/tenants/{tenant}").json()["disabled"] is False
        for path in (f"{UI}/tenants/nobody_here/disable", f"{UI}/keys/key_nope/revoke"):
            missing = client.form(path, csrf=csrf)
            assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
        assert client.get(f"{UI}/tenants/nobody_here").status_code == 404


def test_the_admin_key_still_works_on_the_api_as_admin(console_gw: RunningGateway) -> None:
    tenant = unique("con")
    assert console_gw.admin("POST", "/admin/tenants", json={"name": tenant}).status_code == 201
    assert console_gw.admin("POST", f"/admin/tenants/{tenant}/disable").status_code == 200
    entry = console_gw.admin("GET", "/admin/audit", params={"target": tenant}).json()["data"][0]
    assert (entry["actor"], entry["actor_email"]) == ("admin-api", None)
    no_key = httpx.get(console_gw.admin_url + "/admin/tenants", timeout=10)
    assert no_key.status_code == 401


def test_admin_only_is_one_process_on_one_port() -> None:
    command = Path(sys.executable).parent / "llm-gateway"
    for extra in (["--workers", "2"], ["--admin-port", "9999"]):
        done = subprocess.run([str(command), "serve", "--admin-only", *extra], capture_output=True, text=True,
                              timeout=60, env={k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")})
        assert done.returncode == 2 and "--admin-only serves the console" in done.stdout


def test_a_malformed_role_map_stops_the_start() -> None:
    with pytest.raises(ValueError, match="GATEWAY_OIDC_ROLE_MAP"):
        create_app(Settings(oidc_role_map="some-group=superuser"), public=False)
