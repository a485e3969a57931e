"""A fake Azure OpenAI resource and a fake Microsoft Entra ID token endpoint, on 127.0.0.1.

Routes: `/openai/deployments/{deployment}/chat/completions?api-version=...` and `/embeddings`
(a known deployment and an accepted api-version required), and the newer `/openai/v1/...`
(no api-version; the deployment is the body's `model`). Each call needs an `api-key` header
equal to the resource's key, or `Authorization: Bearer <token>` with a token this fake's
`/{tenant}/oauth2/v2.0/token` issued (client-credentials flow, the Cognitive Services scope)
and not yet expired. What the call answers is the scriptable FakeOpenAI behind it
(tests/fakes/openai_upstream.py): `fake.openai.then(Behavior(...))`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.threads import free_port, serving

API_KEY = "azure-key-0123456789abcdef0123456789ab"
TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
CLIENT_SECRET = "entra-secret-0123456789~abcdef"
SCOPE = "https://cognitiveservices.azure.com/.default"
API_VERSIONS = {"2024-10-21", "2024-06-01", "2025-01-01-preview"}


@dataclass
class Call:
    path: str
    api_version: str | None
    auth: str          # "api-key" | "bearer"


@dataclass
class FakeAzureOpenAI:
    port: int = 0
    deployments: set[str] = field(default_factory=lambda: {"gpt-4o-prod", "embed-small"})
    openai: FakeOpenAI = field(default_factory=FakeOpenAI)
    calls: list[Call] = field(default_factory=list)
    token_requests: int = 0
    token_lifetime: int = 3599
    _tokens: dict[str, float] = field(default_factory=dict)   # token -> expiry (time.monotonic)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def authority(self) -> str:
        return f"{self.endpoint}/{{tenant_id}}"

    async def deployment_call(self, request: web.Request) -> web.StreamResponse:
        deployment = request.match_info["deployment"]
        version = request.query.get("api-version")
        if version is None:
            return _error(404, "404", "Resource not found")   # what Azure answers without api-version
        if version not in API_VERSIONS:
            return _error(400, "BadRequest", "API version not supported")
        return await self._serve(request, deployment, version)

    async def v1_call(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        return await self._serve(request, str(body.get("model")), request.query.get("api-version"))

    async def _serve(self, request: web.Request, deployment: str, version: str | None) -> web.StreamResponse:
        auth = self._auth(request)
        if auth is None:
            return _error(401, "401", "Access denied due to invalid subscription key or wrong API endpoint. "
                                      "Make sure to provide a valid key for an active subscription.")
        if deployment not in self.deployments:
            return _error(404, "DeploymentNotFound", "The API deployment for this resource does not exist.")
        self.calls.append(Call(request.path, version, auth))
        if request.path.endswith("/embeddings"):
            return await self.openai.embeddings(request)
        return await self.openai.chat(request)

    def _auth(self, request: web.Request) -> str | None:
        if "api-key" in request.headers:
            return "api-key" if request.headers["api-key"] == API_KEY else None
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expiry = self._tokens.get(token)
        if scheme == "Bearer" and expiry is not None and time.monotonic() < expiry:
            return "bearer"
        return None

    async def token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = await request.post()
        if request.match_info["tenant"] != TENANT:
            return web.json_response({"error": "invalid_request", "error_description": "AADSTS90002: Tenant "
                                      "not found."}, status=400)
        if form.get("grant_type") != "client_credentials" or form.get("scope") != SCOPE:
            return web.json_response({"error": "invalid_request", "error_description": "bad grant or scope"},
                                     status=400)
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return web.json_response({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid "
                                      "client secret provided."}, status=401)
        token = secrets.token_urlsafe(24)
        self._tokens[token] = time.monotonic() + self.token_lifetime
        return web.json_response({"token_type": "Bearer", "expires_in": self.token_lifetime,
                                  "ext_expires_in": self.token_lifetime, "access_token": token})


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@contextmanager
def running_fake_azure() -> Iterator[FakeAzureOpenAI]:
    """The fake resource and token endpoint on one free port, in a thread of their own."""
    fake = FakeAzureOpenAI(port=free_port())
    app = web.Application()
    for route in ("chat/completions", "embeddings"):
        app.router.add_post(f"/openai/deployments/{{deployment}}/{route}", fake.deployment_call)
        app.router.add_post(f"/openai/v1/{route}", fake.v1_call)
    app.router.add_post("/{tenant}/oauth2/v2.0/token", fake.token)
    with serving(app, fake.port, "fake-azure"):
        yield fake
