"""/readyz says ready only when the database and Redis answer, and not while draining;
/healthz only says the process is alive."""

from __future__ import annotations

import httpx

from tests.conftest import make_settings
from tests.support.gateway import running_gateway
from tests.support.threads import free_port


def readyz(url: str) -> httpx.Response:
    return httpx.get(url + "/readyz", timeout=10)


def test_ready_with_the_database_and_redis_up(postgres_url: str, redis_url: str) -> None:
    with running_gateway(make_settings(postgres_url, redis_url=redis_url)) as gw:
        response = readyz(gw.url)
        assert response.status_code == 200
        body = response.json()
        assert {k: body[k] for k in ("status", "checks")} == {"status": "ready",
                                                              "checks": {"database": "ok", "redis": "ok"}}
        # With Redis, who drains the usage stream is shown (issue 21), not a readiness condition.
        assert body["usage_drain"]["status"] == "ok"
        assert set(body["usage_drain"]) == {"drainers", "backlog", "status"}


def test_embedded_without_redis_is_ready_on_its_database(sqlite_url: str) -> None:
    with running_gateway(make_settings(sqlite_url)) as gw:
        response = readyz(gw.url)
        assert response.status_code == 200
        assert response.json()["checks"] == {"database": "ok"}


def test_not_ready_while_redis_is_unreachable(sqlite_url: str) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    with running_gateway(make_settings(sqlite_url, redis_url=dead)) as gw:
        response = readyz(gw.url)
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "not ready"
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["redis"].startswith("unreachable")
        assert httpx.get(gw.url + "/healthz", timeout=10).status_code == 200


def test_not_ready_while_the_database_is_unreachable() -> None:
    dead = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing"
    with running_gateway(make_settings(dead)) as gw:
        response = readyz(gw.url)
        assert response.status_code == 503
        assert response.json()["checks"]["database"].startswith("unreachable")


def test_not_ready_while_draining(sqlite_url: str) -> None:
    with running_gateway(make_settings(sqlite_url)) as gw:
        assert readyz(gw.url).status_code == 200
        gw.runtime.draining = True          # what `serve` does on SIGTERM, before closing the listener
        response = readyz(gw.url)
        assert response.status_code == 503
        assert response.json()["checks"]["gateway"] == "draining"
