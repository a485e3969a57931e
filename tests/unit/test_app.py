"""The request path's routes dispatched before FastAPI's routing (HotRoutes, a middleware):
errors keep the OpenAI shape there as on FastAPI's routes, everything else still reaches
FastAPI, and middleware added later wraps the hot routes too."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.app import create_app
from gateway.errors import RateLimited
from gateway.settings import Settings


class BrokenRuntime:
    """Every attribute read fails: the route raises something no handler expects."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"secret-internal-detail {name}")


@pytest.fixture
def app(tmp_path: Any) -> FastAPI:
    application = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/gw.db"))
    assert type(application) is FastAPI      # composed, not subclassed
    application.state.runtime = BrokenRuntime()
    return application


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


async def test_an_unexpected_error_on_the_request_path_is_an_openai_shaped_500(
        app: FastAPI, caplog: pytest.LogCaptureFixture) -> None:
    assert "/v1/chat/completions" in app.state.hot_routes and "/v1/embeddings" in app.state.hot_routes
    with caplog.at_level(logging.ERROR, logger="gateway.app"):
        async with client(app) as http:
            response = await http.post("/v1/chat/completions", json={"model": "m", "messages": []},
                                       headers={"x-request-id": "mine-1", "authorization": "Bearer sk-x"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "mine-1"
    error = response.json()["error"]
    assert error["type"] == "api_error" and error["code"] == "internal_error"
    assert "secret-internal-detail" not in response.text          # logged, not sent
    assert any("unhandled error" in r.getMessage() for r in caplog.records)


async def test_a_gateway_error_from_a_request_path_route_keeps_its_status_and_headers(app: FastAPI) -> None:
    async def refuse(request: Any, runtime: Any) -> Any:
        raise RateLimited("Too many requests.", limit="rpm", retry_after=2.5)

    app.state.hot_routes["/v1/embeddings"] = refuse
    async with client(app) as http:
        response = await http.post("/v1/embeddings", json={})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json()["error"]["code"] == "rpm_exceeded"


async def test_other_methods_and_paths_still_get_fastapis_answers(app: FastAPI) -> None:
    async with client(app) as http:
        wrong_method = await http.get("/v1/chat/completions")
        unknown = await http.post("/v1/nothing-here", json={})
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


class Stamp:
    """A middleware added after create_app: it must see the hot routes' responses too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def stamped(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (b"x-stamp", b"1")]
            await send(message)

        await self.app(scope, receive, stamped)


async def test_middleware_added_later_wraps_the_hot_routes(app: FastAPI) -> None:
    app.add_middleware(Stamp)
    async with client(app) as http:
        hot = await http.post("/v1/chat/completions", json={})
        other = await http.get("/v1/chat/completions")
    assert hot.status_code == 500 and hot.headers["x-stamp"] == "1"
    assert other.status_code == 405 and other.headers["x-stamp"] == "1"


def test_fastapis_own_telemetry_stays_off_when_a_global_provider_exists(app: FastAPI,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway makes its own spans, without user text; FastAPI's native telemetry would add
    its own (its logs carry exception messages) once anything installs a global OpenTelemetry
    provider, and looks for one on every request."""
    asgi = pytest.importorskip("fastapi.telemetry._asgi")
    monkeypatch.setattr(asgi, "_unconfigured", lambda provider: False)   # as with a global provider
    native = app._native_telemetry   # type: ignore[attr-defined]
    assert native.enabled() is False
    assert FastAPI(telemetry={})._native_telemetry.enabled() is True   # type: ignore[attr-defined,call-arg]
