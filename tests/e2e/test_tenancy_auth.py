"""Keys, tiers and allowlists as a client sees them through the gateway (in-process admin API,
no Redis: changes apply at once in the one process)."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI

from tests.fakes.openai_upstream import Behavior, FakeOpenAI
from tests.integration.tenancy.support import wait_for_status
from tests.support.gateway import RunningGateway

MESSAGES = [{"role": "user", "content": "hello"}]


def chat(gw: RunningGateway, authorization: str | None, model: str = "mock-echo") -> httpx.Response:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return httpx.post(gw.url + "/v1/chat/completions", headers=headers, json={"model": model, "messages": MESSAGES},
                      timeout=30)


def bearer(key: str) -> str:
    return f"Bearer {key}"


def test_every_rejected_key_gets_the_same_openai_shaped_401(gateway: RunningGateway) -> None:
    tenant = gateway.create_tenant(models=["*"])
    revoked = gateway.admin("POST", f"/admin/tenants/{tenant}/keys", json={}).json()
    assert gateway.admin("POST", f"/admin/keys/{revoked['id']}/revoke").status_code == 200
    expiring = gateway.admin("POST", f"/admin/tenants/{tenant}/keys", json={"expires_in": "1s"}).json()
    disabled_tenant = gateway.create_tenant(models=["*"])
    disabled_key = gateway.create_key(disabled_tenant)
    assert chat(gateway, bearer(disabled_key)).status_code == 200
    assert gateway.admin("POST", f"/admin/tenants/{disabled_tenant}/disable").status_code == 200
    wait_for_status(lambda: chat(gateway, bearer(expiring["key"])), 401, timeout=5, interval=0.05)

    well_formed_unknown = f"sk-{tenant}-" + "A" * 43
    presented = {
        "missing": None,
        "bearer without a key": "Bearer",
        "not bearer": f"Basic {gateway.create_key(tenant)}",
        "malformed": "Bearer not-a-key",
        "truncated": "Bearer " + gateway.create_key(tenant)[:-12],
        "unknown": bearer(well_formed_unknown),
        "revoked": bearer(revoked["key"]),
        "expired": bearer(expiring["key"]),
        "disabled tenant": bearer(disabled_key),
        "admin key as tenant key": bearer(gateway.admin_key),
    }
    bodies = {}
    for reason, authorization in presented.items():
        response = chat(gateway, authorization)
        assert response.status_code == 401, (reason, response.text)
        bodies[reason] = response.content
        listing = httpx.get(gateway.url + "/v1/models", timeout=30,
                            headers={"Authorization": authorization} if authorization else {})
        assert listing.status_code == 401 and listing.content == response.content, reason
    assert len(set(bodies.values())) == 1, bodies
    error = httpx.Response(401, content=next(iter(bodies.values()))).json()["error"]
    assert error == {"message": "Incorrect or missing API key.", "type": "invalid_request_error",
                     "param": None, "code": "invalid_api_key"}

    with pytest.raises(openai.AuthenticationError):
        OpenAI(base_url=gateway.url + "/v1", api_key=revoked["key"], max_retries=0).chat.completions.create(
            model="mock-echo", messages=MESSAGES)  # type: ignore[arg-type]


def test_a_key_works_at_once_and_a_revoke_is_a_401_on_the_next_request(gateway: RunningGateway) -> None:
    tenant = gateway.create_tenant(models=["*"])
    issued = gateway.admin("POST", f"/admin/tenants/{tenant}/keys", json={"label": "app"})
    assert issued.status_code == 201 and issued.headers["cache-control"] == "no-store"
    key, key_id = issued.json()["key"], issued.json()["id"]
    assert chat(gateway, bearer(key)).status_code == 200
    assert gateway.admin("DELETE", f"/admin/keys/{key_id}").status_code == 200
    assert chat(gateway, bearer(key)).status_code == 401


def test_a_rotated_key_works_through_its_grace_period_beside_the_new_one(gateway: RunningGateway) -> None:
    tenant = gateway.create_tenant(models=["*"])
    old = gateway.admin("POST", f"/admin/tenants/{tenant}/keys", json={"label": "app"}).json()
    assert chat(gateway, bearer(old["key"])).status_code == 200
    rotated = gateway.admin("POST", f"/admin/keys/{old['id']}/rotate", json={"grace": "1h"})
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["replaces"]["id"] == old["id"] and new["replaces"]["state"] == "rotating"
    assert chat(gateway, bearer(old["key"])).status_code == 200
    assert chat(gateway, bearer(new["key"])).status_code == 200
    short = gateway.admin("POST", f"/admin/keys/{new['id']}/rotate", json={"grace": 0}).json()
    assert chat(gateway, bearer(new["key"])).status_code == 401
    assert chat(gateway, bearer(short["key"])).status_code == 200
    labels = {k["id"]: k["label"] for k in gateway.admin("GET", f"/admin/tenants/{tenant}/keys").json()["data"]}
    assert labels[short["id"]] == "app"


def test_a_tier_change_and_overrides_apply_on_the_next_request(gateway: RunningGateway) -> None:
    tenant = gateway.create_tenant(models=["*"], tier="free")       # free: 2 requests a minute
    key = bearer(gateway.create_key(tenant))
    assert [chat(gateway, key).status_code for _ in range(3)] == [200, 200, 429]
    assert gateway.admin("PATCH", f"/admin/tenants/{tenant}", json={"tier": "pro"}).status_code == 200
    assert chat(gateway, key).status_code == 200
    assert gateway.admin("PATCH", f"/admin/tenants/{tenant}", json={"limits": {"rpm": 1}}).status_code == 200
    limited = chat(gateway, key)
    assert limited.status_code == 429 and limited.headers["retry-after"]
    assert gateway.admin("PATCH", f"/admin/tenants/{tenant}", json={"clear_limits": ["rpm"]}).status_code == 200
    assert chat(gateway, key).status_code == 200


def test_models_lists_exactly_what_the_tenant_may_call(gateway: RunningGateway) -> None:
    catalog_names = ["gpt-4o-mini", "other-model", "mock-echo", "auto", "cheapest", "fastest"]
    cases = {
        # Aliases need no entry: each is callable when it reaches a model the tenant may call.
        ("gpt-4o*",): {"gpt-4o-mini", "auto", "cheapest", "fastest"},
        ("auto",): set(),                                  # the alias alone reaches no allowed model
        ("mock-echo",): {"mock-echo", "auto", "cheapest", "fastest"},
        ("*",): set(catalog_names),
    }
    for entries, expected in cases.items():
        key = gateway.create_key(models=list(entries))
        listed = httpx.get(gateway.url + "/v1/models", headers={"Authorization": bearer(key)}, timeout=30)
        assert listed.status_code == 200
        names = {m["id"] for m in listed.json()["data"]}
        assert names == expected, entries
        for name in catalog_names:
            status = chat(gateway, bearer(key), model=name).status_code
            assert (status == 200) == (name in names), (entries, name, status)
            assert status in (200, 403), (entries, name, status)


def test_an_alias_never_reaches_a_model_outside_the_allowlist(gateway: RunningGateway,
                                                              upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    primary, secondary = upstreams
    key = bearer(gateway.create_key(models=["gpt-4o*", "auto"]))     # auto = [gpt-4o-mini, mock-echo]
    before = len(primary.requests) + len(secondary.requests)
    forbidden = chat(gateway, key, model="other-model")
    assert forbidden.status_code == 403 and forbidden.json()["error"]["type"] == "permission_error"
    assert len(primary.requests) + len(secondary.requests) == before   # refused before any provider

    # Both deployments of gpt-4o-mini fail: an unrestricted `auto` would fall back to mock-echo,
    # this tenant's `auto` must not.
    primary.then(Behavior(kind="status", status=500))
    secondary.then(Behavior(kind="status", status=500))
    failed = chat(gateway, key, model="auto")
    assert failed.status_code in (502, 503), failed.text
    assert failed.headers.get("x-gateway-provider") != "mock"

    open_key = bearer(gateway.create_key(models=["*"]))
    primary.then(Behavior(kind="status", status=500))
    secondary.then(Behavior(kind="status", status=500))
    fell_back = chat(gateway, open_key, model="auto")
    assert fell_back.status_code == 200 and fell_back.headers["x-gateway-provider"] == "mock"
