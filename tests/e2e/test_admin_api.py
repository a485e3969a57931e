"""The admin API: only the admin key opens it; it can live on its own port, away from the
public listener; every mutation is in the audit log with the state before and after; the
generated admin key is printed at a database's first start only and can be reset."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_settings, unique
from tests.integration.tenancy.support import (
    GatewayProcess,
    chat,
    gateway_env,
    run_cli,
    wait_for_status,
)
from tests.support.catalogs import two_upstreams
from tests.support.gateway import RunningGateway, running_gateway, write_catalog

ADMIN_ROUTES = [("GET", "/admin/tenants"), ("POST", "/admin/tenants"), ("GET", "/admin/tenants/x"),
                ("PATCH", "/admin/tenants/x"), ("POST", "/admin/tenants/x/disable"), ("GET", "/admin/tenants/x/keys"),
                ("POST", "/admin/tenants/x/keys"), ("GET", "/admin/keys/key_x"), ("DELETE", "/admin/keys/key_x"),
                ("POST", "/admin/keys/key_x/revoke"), ("POST", "/admin/keys/key_x/rotate"), ("GET", "/admin/audit")]
ADMIN_KEY_LINE = re.compile(r"(sk-admin-[A-Za-z0-9_-]{32,})")


def call(url: str, method: str, path: str, key: str | None, **kwargs: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.request(method, url + path, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]


def test_only_the_admin_key_opens_the_admin_api(gateway: RunningGateway) -> None:
    tenant_key = gateway.create_key(models=["*"])
    for method, path in ADMIN_ROUTES:
        for presented in (tenant_key, gateway.admin_key + "x", "sk-admin-" + "A" * 43, None, "junk"):
            response = call(gateway.url, method, path, presented, json={})
            assert response.status_code == 401, (method, path, response.text)
            error = response.json()["error"]
            assert error["type"] == "invalid_request_error" and error["code"] == "invalid_api_key"
            assert set(error) == {"message", "type", "param", "code"}
    assert call(gateway.url, "GET", "/admin/tenants", gateway.admin_key).status_code == 200


@pytest.fixture
def split_gateway(sqlite_url: str, tmp_path: Path) -> Iterator[RunningGateway]:
    config = write_catalog(tmp_path, two_upstreams("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1"))
    with running_gateway(make_settings(sqlite_url, config), separate_admin=True) as gw:
        yield gw


def test_with_an_admin_port_the_public_port_has_no_admin_api(split_gateway: RunningGateway) -> None:
    gw = split_gateway
    assert gw.admin_url != gw.url
    for method, path in ADMIN_ROUTES:
        response = call(gw.url, method, path, gw.admin_key, json={})
        assert response.status_code in (404, 405), (method, path, response.status_code)
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    key = gw.create_key(models=["*"])                      # through the admin port
    assert chat(gw.url, key).status_code == 200            # served on the public port
    assert call(gw.admin_url, "POST", "/v1/chat/completions", key, json={}).status_code == 404


def test_serve_with_admin_port_keeps_admin_off_the_public_listener(tmp_path: Path) -> None:
    env = gateway_env(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}", tmp_path)
    with GatewayProcess(env, tmp_path, admin_port=True) as gateway:
        assert gateway.admin_url != gateway.url
        on_admin_port = gateway.admin("GET", "/admin/tenants")
        assert on_admin_port.request.url.port == gateway.admin_port and on_admin_port.status_code == 200
        assert call(gateway.url, "GET", "/admin/tenants", env["GATEWAY_ADMIN_KEY"]).status_code == 404
        assert call(gateway.url, "GET", "/admin/audit", env["GATEWAY_ADMIN_KEY"]).status_code == 404
        assert call(gateway.url, "GET", "/healthz", None).status_code == 200
        # /metrics names tenants in its labels: it moves to the admin port with the admin API.
        assert call(gateway.url, "GET", "/metrics", None).status_code == 404
        scraped = httpx.get(gateway.admin_url + "/metrics", timeout=30)
        assert scraped.status_code == 200 and "gateway_requests_total" in scraped.text
        tenant = unique("port")
        assert gateway.admin("POST", "/admin/tenants", json={"name": tenant, "tier": "pro",
                                                             "models": ["*"]}).status_code == 201
        key = gateway.admin("POST", f"/admin/tenants/{tenant}/keys", json={}).json()["key"]
        assert chat(gateway.url, key).status_code == 200
        assert call(gateway.admin_url, "POST", "/v1/chat/completions", key, json={}).status_code == 404
        assert f"admin on http://127.0.0.1:{gateway.admin_port}" in gateway.output


def test_every_mutation_is_audited_with_before_and_after(gateway: RunningGateway) -> None:
    tenant = unique("aud")
    rid = {"x-request-id": "req-audit-1"}
    headers = {"Authorization": f"Bearer {gateway.admin_key}", **rid}
    def admin(method: str, path: str, **kwargs: object) -> httpx.Response:
        response = httpx.request(method, gateway.admin_url + path, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]
        assert response.status_code < 300, response.text
        return response
    admin("POST", "/admin/tenants", json={"name": tenant, "tier": "free", "models": ["mock-echo"]})
    admin("PATCH", f"/admin/tenants/{tenant}", json={"tier": "pro", "models": ["*"], "limits": {"rpm": 50},
                                                     "pii_mode": "block", "cache_mode": "off",
                                                     "validation_mode": "reject"})
    admin("POST", f"/admin/tenants/{tenant}/disable")
    admin("PATCH", f"/admin/tenants/{tenant}", json={"disabled": False})
    key = admin("POST", f"/admin/tenants/{tenant}/keys", json={"label": "one"}).json()
    rotated = admin("POST", f"/admin/keys/{key['id']}/rotate", json={"grace": "10m"}).json()
    admin("DELETE", f"/admin/keys/{rotated['id']}")

    tenant_log = admin("GET", f"/admin/audit?target={tenant}").json()["data"][::-1]
    assert [e["action"] for e in tenant_log] == ["tenant.create", "tenant.update", "tenant.disable", "tenant.update"]
    assert tenant_log[0]["before"] is None and tenant_log[0]["after"]["models"] == ["mock-echo"]
    assert (tenant_log[1]["before"]["tier"], tenant_log[1]["after"]["tier"]) == ("free", "pro")
    assert (tenant_log[1]["before"]["pii_mode"], tenant_log[1]["after"]["pii_mode"]) == (None, "block")
    assert (tenant_log[1]["before"]["validation_mode"], tenant_log[1]["after"]["validation_mode"]) == (None, "reject")
    assert (tenant_log[2]["before"]["disabled"], tenant_log[2]["after"]["disabled"]) == (False, True)
    assert (tenant_log[3]["before"]["disabled"], tenant_log[3]["after"]["disabled"]) == (True, False)
    key_log = admin("GET", f"/admin/audit?target={key['id']}").json()["data"][::-1]
    assert [e["action"] for e in key_log] == ["key.create", "key.rotate"]
    assert key_log[1]["before"]["state"] == "active" and key_log[1]["after"]["state"] == "rotating"
    new_log = admin("GET", f"/admin/audit?target={rotated['id']}").json()["data"][::-1]
    assert [e["action"] for e in new_log] == ["key.create", "key.revoke"]
    assert (new_log[1]["before"]["state"], new_log[1]["after"]["state"]) == ("active", "revoked")
    every = tenant_log + key_log + new_log
    assert all(e["actor"] == "admin-api" and e["request_id"] == "req-audit-1" and e["ts"] for e in every)
    assert all(e["after"] is not None for e in every)
    assert all(e["before"] is not None for e in every if not e["action"].endswith(".create"))
    text = str(admin("GET", "/admin/audit?limit=1000").json())
    assert key["key"] not in text and rotated["key"] not in text


def test_mistakes_are_openai_shaped_errors_not_500s(gateway: RunningGateway) -> None:
    tenant = gateway.create_tenant(models=["*"])
    cases = [
        ("POST", "/admin/tenants", {"name": tenant, "tier": "pro"}, 400),
        ("POST", "/admin/tenants", {"name": unique("x"), "tier": "gold"}, 400),
        ("POST", "/admin/tenants", {"name": "Bad-Name"}, 400),
        ("POST", "/admin/tenants", {"name": unique("x"), "colour": "red"}, 400),
        ("POST", "/admin/tenants", {"name": unique("x"), "models": ["gpt4o"]}, 400),
        ("PATCH", f"/admin/tenants/{tenant}", {}, 400),
        ("PATCH", f"/admin/tenants/{tenant}", {"limits": {"rpm": -5}}, 400),
        ("PATCH", "/admin/tenants/nobody_here", {"tier": "pro"}, 404),
        ("POST", f"/admin/tenants/{tenant}/keys", {"expires_in": "forever"}, 400),
        ("POST", f"/admin/tenants/{tenant}/keys", {"expires_in": 0}, 400),        # was: a key that never expires
        ("POST", f"/admin/tenants/{tenant}/keys", {"expires_in": "0s"}, 400),
        ("POST", f"/admin/tenants/{tenant}/keys", {"expires_in": 30}, 400),       # 30 what? a unit is required
        ("POST", f"/admin/tenants/{tenant}/keys", {"expires_in": "-1h"}, 400),
        ("GET", "/admin/usage?tenant=nobody_here", None, 404),                    # a typo is not zero spend
        ("POST", "/admin/tenants/nobody_here/keys", {}, 404),
        ("POST", "/admin/keys/key_nope/rotate", {"grace": "1h"}, 404),
        ("DELETE", "/admin/keys/key_nope", None, 404),
    ]
    for method, path, body, status in cases:
        response = gateway.admin(method, path, json=body) if body is not None else gateway.admin(method, path)
        assert response.status_code == status, (method, path, body, response.text)
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_last_used_is_recorded_without_a_write_per_request(gateway: RunningGateway) -> None:
    tenant = gateway.create_tenant(models=["*"])
    issued = gateway.admin("POST", f"/admin/tenants/{tenant}/keys", json={}).json()
    assert gateway.admin("GET", f"/admin/keys/{issued['id']}").json()["last_used_at"] is None
    for _ in range(5):
        assert chat(gateway.url, issued["key"]).status_code == 200
    assert gateway.runtime.directory.last_used is not None
    assert gateway.admin("GET", f"/admin/keys/{issued['id']}").json()["last_used_at"] is None   # not yet written
    assert gateway.run(gateway.runtime.directory.last_used.flush) >= 1
    assert gateway.admin("GET", f"/admin/keys/{issued['id']}").json()["last_used_at"] is not None


def test_the_generated_admin_key_is_printed_at_first_start_only_and_can_be_reset(tmp_path: Path) -> None:
    env = gateway_env(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}", tmp_path, admin_key=None)
    with GatewayProcess(env, tmp_path) as first:
        admin_key = ADMIN_KEY_LINE.search(first.output)
        assert admin_key, first.output
        key = admin_key.group(1)
        assert first.output.count(key) == 1
        assert first.admin("GET", "/admin/tenants", admin_key=key).status_code == 200
    with GatewayProcess(env, tmp_path) as second:
        assert ADMIN_KEY_LINE.search(second.output) is None      # not generated, not printed again
        assert second.admin("GET", "/admin/tenants", admin_key=key).status_code == 200
        reset = run_cli(["admin-key", "reset"], env, tmp_path).stdout
        new_key = ADMIN_KEY_LINE.search(reset)
        assert new_key and new_key.group(1) != key
        wait_for_status(lambda: second.admin("GET", "/admin/tenants", admin_key=key), 401, timeout=3, interval=0.05)
        assert second.admin("GET", "/admin/tenants", admin_key=new_key.group(1)).status_code == 200
    assert key not in second.output


def test_a_malformed_json_body_is_named_as_such(gateway: RunningGateway) -> None:
    response = httpx.post(gateway.admin_url + "/admin/tenants", content=b'{"name": "x",', timeout=30,
                          headers={"Authorization": f"Bearer {gateway.admin_key}", "Content-Type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == "The request body is not valid JSON." and error["param"] is None
