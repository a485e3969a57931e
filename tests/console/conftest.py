from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import oidc_provider_mock
import pytest
from oidc_provider_mock import User
from pydantic import SecretStr
from werkzeug.serving import make_server

from tests.conftest import make_settings
from tests.support.gateway import RunningGateway, running_gateway


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


def oidc_settings(provider: OidcProvider) -> dict[str, object]:
    return {"oidc_issuer": provider.issuer, "oidc_client_id": provider.client_id,
            "oidc_client_secret": SecretStr(provider.client_secret)}


@pytest.fixture(scope="module")
def oidc_gw(postgres_url: str, oidc_provider: OidcProvider) -> Iterator[RunningGateway]:
    with running_gateway(make_settings(postgres_url, **oidc_settings(oidc_provider)), separate_admin=True) as gw:
        yield gw
