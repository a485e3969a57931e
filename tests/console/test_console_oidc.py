"""Signing in through a real OpenID Connect provider on loopback (oidc-provider-mock), over
HTTP: authorization code with PKCE and a nonce, the ID token checked, the role read from the
`roles` claim, and nobody without a role let in."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from gateway.identity.sessions import COOKIE
from tests.conftest import unique
from tests.console.support import UI, ConsoleClient
from tests.support.gateway import RunningGateway


def sign_in(client: ConsoleClient, subject: str, *, tamper_state: bool = False) -> httpx.Response:
    """What the browser does: the console sends it to the provider, the person picks who they
    are there, the provider sends it back to the console's callback with a code."""
    start = client.get(f"{UI}/auth/start", params={"next": f"{UI}/tenants"})
    assert start.status_code == 303, start.text
    authorize = start.headers["location"]
    chosen = httpx.post(authorize, data={"sub": subject}, follow_redirects=False, timeout=30)
    assert chosen.status_code == 302, chosen.text
    callback = chosen.headers["location"]
    assert callback.startswith(client.gw.admin_url + f"{UI}/auth/callback?")
    if tamper_state:
        callback = callback.replace("state=", "state=x")
    return client.get(callback.removeprefix(client.gw.admin_url))


def test_the_authorization_request_uses_pkce_and_a_nonce(oidc_gw: RunningGateway) -> None:
    with ConsoleClient(oidc_gw) as client:
        start = client.get(f"{UI}/auth/start")
        query = parse_qs(urlsplit(start.headers["location"]).query)
        assert query["response_type"] == ["code"] and query["code_challenge_method"] == ["S256"]
        assert len(query["code_challenge"][0]) >= 43 and query["nonce"][0] and query["state"][0]
        assert query["redirect_uri"] == [oidc_gw.admin_url + f"{UI}/auth/callback"]
        assert "openid" in query["scope"][0].split()


def test_an_admin_signs_in_and_changes_are_attributed_to_them(oidc_gw: RunningGateway) -> None:
    with ConsoleClient(oidc_gw) as client:
        done = sign_in(client, "alice")
        assert done.status_code == 303 and done.headers["location"] == f"{UI}/tenants"
        assert client.cookies.get(COOKIE)
        page = client.get(f"{UI}/tenants").text
        assert "alice@example.com" in page and "New tenant" in page
        tenant = unique("sso")
        created = client.form(f"{UI}/tenants", csrf=client.csrf(), name=tenant, tier="pro", models="*")
        assert created.status_code == 303
    entry = oidc_gw.admin("GET", "/admin/audit", params={"target": tenant}).json()["data"][0]
    assert (entry["actor"], entry["actor_subject"], entry["actor_email"]) == (
        "alice@example.com", "alice", "alice@example.com")


def test_a_viewer_from_the_provider_gets_the_viewer_role(oidc_gw: RunningGateway) -> None:
    with ConsoleClient(oidc_gw) as client:
        assert sign_in(client, "victor").status_code == 303
        page = client.get(f"{UI}/tenants").text
        assert "viewer" in page and "New tenant" not in page


def test_a_person_without_a_console_role_gets_no_session(oidc_gw: RunningGateway) -> None:
    with ConsoleClient(oidc_gw) as client:
        refused = sign_in(client, "nora")
        assert refused.status_code == 403
        assert "none of the console" in refused.text
        assert client.cookies.get(COOKIE) is None
        assert client.get(f"{UI}/").status_code == 303


def test_a_callback_with_another_state_is_refused(oidc_gw: RunningGateway) -> None:
    with ConsoleClient(oidc_gw) as client:
        refused = sign_in(client, "alice", tamper_state=True)
        assert refused.status_code == 401 and client.cookies.get(COOKIE) is None
        bare = client.get(f"{UI}/auth/callback", params={"code": "x", "state": "y"})
        assert bare.status_code in (400, 401)


def test_with_single_sign_on_the_admin_key_no_longer_opens_the_console(oidc_gw: RunningGateway) -> None:
    with ConsoleClient(oidc_gw) as client:
        assert client.sign_in_with_admin_key().status_code == 400
        assert "Sign in with single sign-on" in client.get(f"{UI}/login").text
    assert oidc_gw.admin("GET", "/admin/tenants").status_code == 200   # the API keeps the admin key
