"""The app's own dispatch of the request path's routes (GatewayApp): errors keep the OpenAI
shape there as on FastAPI's routes, and everything else still reaches FastAPI."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from gateway.app import GatewayApp, create_app
from gateway.errors import RateLimited
from gateway.settings import Settings


class BrokenRuntime:
    """Every attribute read fails: the route raises something no handler expects."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"secret-internal-detail {name}")


@pytest.fixture
def app(tmp_path: Any) -> GatewayApp:
    application = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/gw.db"))
    assert isinstance(application, GatewayApp)
    application.state.runtime = BrokenRuntime()
    return application


def client(app: GatewayApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


async def test_an_unexpected_error_on_the_request_path_is_an_openai_shaped_500(
        app: GatewayApp, caplog: pytest.LogCaptureFixture) -> None:
    assert "/v1/chat/completions" in app.hot_routes and "/v1/embeddings" in app.hot_routes
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


async def test_a_gateway_error_from_a_request_path_route_keeps_its_status_and_headers(app: GatewayApp) -> None:
    async def refuse(request: Any, runtime: Any) -> Any:
        raise RateLimited("Too many requests.", limit="rpm", retry_after=2.5)

    app.hot_routes["/v1/embeddings"] = refuse
    async with client(app) as http:
        response = await http.post("/v1/embeddings", json={})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json()["error"]["code"] == "rpm_exceeded"


async def test_other_methods_and_paths_still_get_fastapis_answers(app: GatewayApp) -> None:
    async with client(app) as http:
        wrong_method = await http.get("/v1/chat/completions")
        unknown = await http.post("/v1/nothing-here", json={})
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
