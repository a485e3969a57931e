"""The console in a real browser (headless Debian chromium through Playwright) against the two
deployments operators run -- `serve` for the API and `serve --admin-only` for the console --
on PostgreSQL, signing in through a real OpenID Connect provider on loopback.

A failed test keeps a screenshot of each of its pages under test-artifacts/console/."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from openai import AuthenticationError, OpenAI
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.identity.tables import console_sessions
from tests.conftest import unique
from tests.console.browser import Deployment

pytestmark = pytest.mark.slow   # two gateway processes and a browser: ~30-60 s on two shared cores
UI = "/admin/ui"


def sign_in(page: Page, deployed: Deployment, subject: str, start: str = "/") -> None:
    """As a person does it: the console sends them to the identity provider, they pick who
    they are, the provider sends them back."""
    page.goto(deployed.admin_url + UI + start)
    expect(page).to_have_url(re.compile(r"/admin/ui/login"))
    page.get_by_role("link", name="Sign in with single sign-on").click()
    page.locator(f"button[name=sub][value={subject}]").click()
    expect(page.locator(".sidebar .who")).to_contain_text("@example.com")


def eventually(check: Callable[[], bool], timeout: float = 15, interval: float = 0.3) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def admin_api(deployed: Deployment, method: str, path: str, **kwargs: object) -> httpx.Response:
    return httpx.request(method, deployed.admin_url + path, headers={"Authorization": f"Bearer {deployed.admin_key}"},
                         timeout=30, **kwargs)  # type: ignore[arg-type]


def test_an_admin_onboards_a_tenant_and_revokes_its_key_from_the_browser(
        context: BrowserContext, deployed: Deployment) -> None:
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())   # the confirmation before a revoke
    sign_in(page, deployed, "alice")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()

    # Create a tenant.
    tenant = unique("web")
    page.locator(".sidebar").get_by_role("link", name="Tenants").click()
    page.locator("summary", has_text="New tenant").click()
    page.get_by_label("Name").fill(tenant)
    page.get_by_label("Models").fill("mock-echo")
    page.get_by_role("button", name="Create tenant").click()
    expect(page.locator(".flash.ok")).to_have_text("Tenant created.")

    # Create a key: shown once, with a copy button.
    page.locator("#create-key").get_by_label("Label").fill("browser test")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key").inner_text().strip()
    assert key.startswith(f"sk-{tenant}-")
    expect(page.locator("button.copy")).to_be_visible()
    page.goto(page.url)   # the page again: the key is gone for good
    expect(page.locator("#new-key")).to_have_count(0)
    assert key not in page.content()

    # The application calls the API deployment with it through the OpenAI SDK.
    client = OpenAI(base_url=deployed.api_url + "/v1", api_key=key, max_retries=0)
    reply = client.chat.completions.create(model="mock-echo", messages=[{"role": "user", "content": "hello console"}],
                                           extra_headers={"x-gateway-feature": "onboarding"})
    assert reply.choices[0].message.content == "hello console"

    # The request shows in the usage chart and table.
    def usage_shows_it() -> bool:
        page.goto(f"{deployed.admin_url}{UI}/usage?since=1d&tenant={tenant}")
        row = page.locator("#usage-by-day tbody tr").first
        return "No usage" not in row.inner_text() and row.locator("td").nth(1).inner_text() == "1"

    assert eventually(usage_shows_it), "the request never appeared on the usage page"
    today = datetime.now(UTC).date().isoformat()
    bar = page.locator(f"figure.chart >> nth=1 >> rect.bar[data-day='{today}']")
    assert float(bar.get_attribute("height") or 0) > 0
    expect(page.locator("table.top", has_text="onboarding")).to_be_visible()

    # Revoke the key in the console; the SDK gets 401.
    page.goto(f"{deployed.admin_url}{UI}/tenants/{tenant}")
    page.locator("#keys").get_by_role("button", name="Revoke").click()
    expect(page.locator(".flash.ok")).to_contain_text("Key revoked")

    def refused() -> bool:
        try:
            client.chat.completions.create(model="mock-echo", messages=[{"role": "user", "content": "again"}])
        except AuthenticationError:
            return True
        return False

    assert eventually(refused, timeout=10), "the revoked key kept working"

    # The audit page names the admin on each of those changes.
    page.locator(".sidebar").get_by_role("link", name="Audit log").click()
    key_id = page.url and admin_api(deployed, "GET", f"/admin/tenants/{tenant}/keys").json()["data"][0]["id"]
    for target, actions in ((tenant, ["tenant.create"]), (key_id, ["key.revoke", "key.create"])):
        page.goto(f"{deployed.admin_url}{UI}/audit?target={target}")
        rows = page.locator("#audit > tbody > tr")
        expect(rows).to_have_count(len(actions))
        for index, action in enumerate(actions):
            expect(rows.nth(index).locator("td").nth(1)).to_contain_text("alice@example.com")
            expect(rows.nth(index).locator("td").nth(2)).to_have_text(action)


def test_a_viewer_sees_no_change_controls_and_a_forged_change_is_refused(
        context: BrowserContext, deployed: Deployment) -> None:
    tenant = unique("web")
    assert admin_api(deployed, "POST", "/admin/tenants", json={"name": tenant, "models": ["*"]}).status_code == 201
    key = admin_api(deployed, "POST", f"/admin/tenants/{tenant}/keys", json={"label": "app"}).json()
    page = context.new_page()
    sign_in(page, deployed, "victor", start=f"/tenants/{tenant}")
    expect(page).to_have_url(re.compile(rf"/admin/ui/tenants/{tenant}$"))
    expect(page.locator(".sidebar .role")).to_have_text("viewer")
    expect(page.locator("main form[method=post]")).to_have_count(0)
    for label in ("Create key", "Revoke", "Rotate", "Save settings", "Disable tenant"):
        expect(page.get_by_role("button", name=label)).to_have_count(0)
    page.locator(".sidebar").get_by_role("link", name="Tenants").click()
    expect(page.locator("summary", has_text="New tenant")).to_have_count(0)

    # A forged request with the viewer's own cookie: the server refuses it whatever it carries.
    forged = page.request.post(f"{deployed.admin_url}{UI}/keys/{key['id']}/revoke",
                               form={"tenant": tenant, "csrf": "guessed"})
    assert forged.status == 403
    forged_api = page.request.post(f"{deployed.admin_url}/admin/keys/{key['id']}/revoke")
    assert forged_api.status == 403
    assert admin_api(deployed, "GET", f"/admin/keys/{key['id']}").json()["state"] == "active"


def test_a_change_without_csrf_is_refused_and_an_expired_session_returns_to_login(
        context: BrowserContext, deployed: Deployment, postgres_url: str) -> None:
    tenant = unique("web")
    assert admin_api(deployed, "POST", "/admin/tenants", json={"name": tenant}).status_code == 201
    page = context.new_page()
    sign_in(page, deployed, "olga", start=f"/tenants/{tenant}")
    expect(page.locator(".sidebar .role")).to_have_text("operator")

    no_token = page.request.post(f"{deployed.admin_url}{UI}/tenants/{tenant}/keys", form={"label": "sneaky"})
    assert no_token.status == 403
    assert admin_api(deployed, "GET", f"/admin/tenants/{tenant}/keys").json()["data"] == []

    async def expire() -> None:
        engine = create_async_engine(postgres_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(sa.update(console_sessions).where(console_sessions.c.subject == "olga")
                                   .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(1) as thread:   # Playwright's sync API keeps a loop running on this thread
        thread.submit(asyncio.run, expire()).result(30)
    page.reload()
    expect(page).to_have_url(re.compile(r"/admin/ui/login\?next="))
    expect(page.get_by_role("link", name="Sign in with single sign-on")).to_be_visible()


def test_the_admin_deployment_serves_no_public_routes(deployed: Deployment) -> None:
    chat = httpx.post(deployed.admin_url + "/v1/chat/completions", json={}, timeout=10)
    assert chat.status_code == 404
    assert httpx.get(deployed.admin_url + "/readyz", timeout=10).status_code == 200
    assert httpx.get(deployed.admin_url + "/v1/models", timeout=10).status_code == 404
    assert httpx.get(deployed.admin_url + UI + "/login", timeout=10).status_code == 200
