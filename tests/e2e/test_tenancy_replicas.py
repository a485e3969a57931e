"""Two `llm-gateway serve` processes sharing PostgreSQL and Redis, as two replicas would.
A revoke, a disable or a tier change made through one is applied by the other within one
second -- measured by polling the other replica, with a 30 s key cache so that only the
published change (not the cache expiring) can explain it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import unique
from tests.integration.tenancy.support import GatewayProcess, chat, gateway_env, models, wait_for_status


@pytest.fixture
def replicas(postgres_url: str, redis_url: str, tmp_path: Path) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    env = gateway_env(postgres_url, tmp_path, redis_url=redis_url, key_cache_ttl_seconds="30")
    with GatewayProcess(env, tmp_path) as first, GatewayProcess(env, tmp_path) as second:
        yield first, second


def new_key(gateway: GatewayProcess, tier: str = "pro") -> tuple[str, str, str]:
    tenant = unique("rep")
    created = gateway.admin("POST", "/admin/tenants", json={"name": tenant, "tier": tier, "models": ["*"]})
    assert created.status_code == 201, created.text
    issued = gateway.admin("POST", f"/admin/tenants/{tenant}/keys", json={"label": "replicas"})
    assert issued.status_code == 201, issued.text
    return tenant, issued.json()["id"], issued.json()["key"]


def test_a_revoke_through_one_replica_is_a_401_on_the_other_within_a_second(
        replicas: tuple[GatewayProcess, GatewayProcess]) -> None:
    first, second = replicas
    _, key_id, key = new_key(first)
    assert chat(second.url, key).status_code == 200       # the other replica has it cached now
    assert models(second.url, key).status_code == 200

    revoked = first.admin("DELETE", f"/admin/keys/{key_id}")
    assert revoked.status_code == 200, revoked.text
    elapsed = wait_for_status(lambda: models(second.url, key), 401, timeout=5, interval=0.002)
    print(f"\nrevocation reached the other replica in {elapsed * 1000:.1f} ms")
    assert elapsed < 1.0
    assert chat(second.url, key).status_code == 401
    assert chat(first.url, key).status_code == 401


def test_a_disable_and_a_tier_change_reach_the_other_replica_within_a_second(
        replicas: tuple[GatewayProcess, GatewayProcess]) -> None:
    first, second = replicas
    tenant, _, key = new_key(first, tier="free")           # free: 2 requests a minute
    assert chat(second.url, key).status_code == 200
    assert chat(second.url, key).status_code == 200
    assert chat(second.url, key).status_code == 429

    assert first.admin("PATCH", f"/admin/tenants/{tenant}", json={"tier": "pro"}).status_code == 200
    elapsed = wait_for_status(lambda: chat(second.url, key), 200, timeout=5, interval=0.002)
    print(f"\ntier change reached the other replica in {elapsed * 1000:.1f} ms")
    assert elapsed < 1.0

    assert first.admin("POST", f"/admin/tenants/{tenant}/disable").status_code == 200
    elapsed = wait_for_status(lambda: models(second.url, key), 401, timeout=5, interval=0.002)
    print(f"disable reached the other replica in {elapsed * 1000:.1f} ms")
    assert elapsed < 1.0
