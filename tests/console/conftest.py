from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import oidc_provider_mock
import pytest
from oidc_provider_mock import User
from playwright.sync_api import Browser, BrowserContext, sync_playwright
from pydantic import SecretStr
from werkzeug.serving import make_server

from tests.conftest import make_settings
from tests.console.browser import ARTIFACTS, Deployment, chromium_path, deployment
from tests.support.gateway import ADMIN_KEY, RunningGateway, running_gateway


@pytest.fixture(scope="module")
def console_gw(postgres_url: str) -> Iterator[RunningGateway]:
    """A gateway on PostgreSQL with the admin API and the console on their own port."""
    with running_gateway(make_settings(postgres_url), separate_admin=True) as gw:
        yield gw


@dataclass(frozen=True)
class OidcProvider:
    issuer: str
    client_id: str = "llm-gateway-console"
    client_secret: str = "console-secret"


# The people the provider knows, with the claims their ID tokens carry.
PEOPLE = {
    "alice": {"email": "alice@example.com", "name": "Alice Admin", "roles": ["admin"]},
    "olga": {"email": "olga@example.com", "name": "Olga Operator", "roles": ["operator"]},
    "victor": {"email": "victor@example.com", "name": "Victor Viewer", "roles": ["viewer"]},
    "nora": {"email": "nora@example.com", "name": "Nora Nobody", "roles": ["billing-admin"]},
}


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    """A real OpenID Connect provider (oidc-provider-mock, a Flask app on Authlib) on loopback."""
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"   # the provider's own check: plain http on loopback
    users = [User(sub=sub, claims=dict(claims)) for sub, claims in PEOPLE.items()]
    server = make_server("127.0.0.1", 0, oidc_provider_mock.app(user_claims=users), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield OidcProvider(issuer=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(10)


def oidc_settings(provider: OidcProvider) -> dict[str, Any]:
    return {"oidc_issuer": provider.issuer, "oidc_client_id": provider.client_id,
            "oidc_client_secret": SecretStr(provider.client_secret)}


@pytest.fixture(scope="module")
def oidc_gw(postgres_url: str, oidc_provider: OidcProvider) -> Iterator[RunningGateway]:
    with running_gateway(make_settings(postgres_url, **oidc_settings(oidc_provider)), separate_admin=True) as gw:
        yield gw


# -- the browser suite ----------------------------------------------------------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="module")
def deployed(postgres_url: str, oidc_provider: OidcProvider,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The API deployment and the admin deployment (`serve --admin-only`) as two processes on
    one PostgreSQL database, single sign-on through the provider on loopback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({"GATEWAY_DATABASE_URL": postgres_url, "GATEWAY_ADMIN_KEY": ADMIN_KEY,
                "GATEWAY_BOOTSTRAP_DEMO_TENANT": "false", "GATEWAY_LOG_LEVEL": "warning",
                "GATEWAY_OIDC_ISSUER": oidc_provider.issuer, "GATEWAY_OIDC_CLIENT_ID": oidc_provider.client_id,
                "GATEWAY_OIDC_CLIENT_SECRET": oidc_provider.client_secret})
    with deployment(env, tmp_path_factory.mktemp("console-logs")) as running:
        yield running


@pytest.fixture(scope="module")
def browser(deployed: Deployment) -> Iterator[Browser]:
    """Chromium, launched once the gateway is up (Playwright's sync API keeps an event loop
    running on this thread from here on: fixtures that call asyncio.run must come first)."""
    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    """A fresh browser profile; when the test fails, a screenshot of each of its pages is kept
    under test-artifacts/console/ (CONSOLE_ARTIFACTS_DIR)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            for index, page in enumerate(ctx.pages):
                path = ARTIFACTS / f"{request.node.name}-{index}.png"
                page.screenshot(path=str(path), full_page=True)
                print(f"screenshot of {page.url} kept at {path}")
        ctx.close()
