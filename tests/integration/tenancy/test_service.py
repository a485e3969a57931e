"""Tenant and key operations on SQLite and PostgreSQL: each mutation is audited with the
state before and after, published as a change, and never stores or records key material."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.tenancy.changes import Change, ChangeKind
from gateway.tenancy.service import NotFoundError, TenancyError, TenancyService
from tests.conftest import unique
from tests.integration.tenancy.support import assert_no_key_material, database_text_async

MODELS = ["gpt-4o", "gpt-4o-mini", "claude", "auto", "cheapest"]


@pytest.fixture
def published() -> list[Change]:
    return []


@pytest.fixture
def service(engine: AsyncEngine, published: list[Change]) -> TenancyService:
    async def publish(change: Change) -> None:
        published.append(change)
    return TenancyService(engine, tiers=["free", "pro"], model_names=MODELS, publish=publish)


async def audit_of(service: TenancyService, target: str) -> list[dict]:   # type: ignore[type-arg]
    return list(reversed(await service.list_audit(target=target)))


async def test_tenant_lifecycle_is_audited_with_before_and_after(service: TenancyService,
                                                                 published: list[Change]) -> None:
    name = unique("svc")
    created = await service.create_tenant(name, tier="free", models=["gpt-4o*", "auto"], limits={"rpm": 5},
                                          actor="tester", request_id="req-1")
    assert created["tier"] == "free" and created["limits"] == {"rpm": 5} and not created["disabled"]
    updated = await service.update_tenant(name, tier="pro", limits={"tpm": None}, clear_limits=["rpm"],
                                          pii_mode="block", actor="tester", request_id="req-2")
    assert updated["tier"] == "pro" and updated["limits"] == {"tpm": None} and updated["pii_mode"] == "block"
    disabled = await service.disable_tenant(name, actor="tester")
    assert disabled["disabled"]
    enabled = await service.update_tenant(name, disabled=False, pii_mode="default", actor="tester")
    assert not enabled["disabled"] and enabled["pii_mode"] is None

    rows = await audit_of(service, name)
    assert [r["action"] for r in rows] == ["tenant.create", "tenant.update", "tenant.disable", "tenant.update"]
    assert rows[0]["before"] is None and rows[0]["after"]["tier"] == "free"
    assert rows[1]["before"]["tier"] == "free" and rows[1]["after"]["tier"] == "pro"
    assert rows[1]["before"]["limits"] == {"rpm": 5} and rows[1]["after"]["limits"] == {"tpm": None}
    assert rows[2]["before"]["disabled"] is False and rows[2]["after"]["disabled"] is True
    assert rows[3]["before"]["pii_mode"] == "block" and rows[3]["after"]["pii_mode"] is None
    assert [r["actor"] for r in rows] == ["tester"] * 4
    assert rows[0]["request_id"] == "req-1" and rows[1]["request_id"] == "req-2"
    assert published == [Change(ChangeKind.TENANT, created["id"])] * 3


async def test_key_lifecycle_is_audited_and_keeps_no_key_material(service: TenancyService, database_url: str,
                                                                  published: list[Change]) -> None:
    name = unique("svc")
    await service.create_tenant(name, tier="pro", models=["*"])
    first = await service.create_key(name, label="ci", expires_in=timedelta(days=30))
    assert first.key.startswith(f"sk-{name}-") and first.expires_at is not None
    second, old = await service.rotate_key(first.id, grace=timedelta(hours=1), actor="tester")
    assert old["state"] == "rotating"
    assert datetime.fromisoformat(old["revoked_at"]) > datetime.now(UTC) + timedelta(minutes=59)
    revoked = await service.revoke_key(second.id, actor="tester")
    assert revoked["state"] == "revoked"
    listed = {k["id"]: k for k in await service.list_keys(name)}
    assert listed[first.id]["state"] == "rotating" and listed[first.id]["label"] == "ci"
    assert listed[second.id]["state"] == "revoked" and listed[second.id]["label"] == "ci"
    assert all("key_hash" not in k and "key" not in k for k in listed.values())

    first_rows = await audit_of(service, first.id)
    assert [r["action"] for r in first_rows] == ["key.create", "key.rotate"]
    assert first_rows[0]["before"] is None and first_rows[0]["after"]["prefix"] == first.prefix
    assert first_rows[1]["before"]["state"] == "active" and first_rows[1]["after"]["state"] == "rotating"
    assert first_rows[1]["after"]["replaced_by"] == second.id
    second_rows = await audit_of(service, second.id)
    assert [r["action"] for r in second_rows] == ["key.create", "key.revoke"]
    assert second_rows[0]["after"]["rotated_from"] == first.id
    assert second_rows[1]["before"]["state"] == "active" and second_rows[1]["after"]["state"] == "revoked"
    assert published == [Change(ChangeKind.KEY, first.id), Change(ChangeKind.KEY, second.id)]

    audit_text = json.dumps(await service.list_audit(limit=1000))
    assert_no_key_material(audit_text, [first.key, second.key], "the audit log")
    stored = await database_text_async(database_url)
    assert first.prefix in stored and second.prefix in stored      # the scan reads api_keys
    assert_no_key_material(stored, [first.key, second.key], "the database")


async def test_revoking_ends_a_grace_period_and_is_idempotent(service: TenancyService) -> None:
    name = unique("svc")
    await service.create_tenant(name, tier="pro", models=["*"])
    issued = await service.create_key(name)
    await service.rotate_key(issued.id, grace=timedelta(hours=1))
    once = await service.revoke_key(issued.id)
    twice = await service.revoke_key(issued.id)
    assert once["state"] == twice["state"] == "revoked"
    assert once["revoked_at"] == twice["revoked_at"]


async def test_what_cannot_be_done_says_why(service: TenancyService) -> None:
    name = unique("svc")
    await service.create_tenant(name, tier="pro", models=["*"])
    cases = [
        (service.create_tenant(name, tier="pro", models=[]), "already exists"),
        (service.create_tenant(unique("svc"), tier="gold", models=[]), "unknown tier"),
        (service.create_tenant(unique("svc"), tier="pro", models=["gpt4o"]), "unknown model or alias"),
        (service.create_tenant("admin", tier="pro", models=[]), "reserved"),
        (service.update_tenant(name), "nothing to update"),
        (service.update_tenant(name, limits={"rpm": -1}), "non-negative"),
        (service.update_tenant(name, cache_mode="fuzzy"), "unknown cache mode"),
        (service.update_tenant(name, validation_mode="strict"), "unknown validation mode"),
        (service.create_tenant(unique("svc"), tier="pro", models=[], validation_mode="warn"), "unknown validation mode"),
    ]
    for call, message in cases:
        with pytest.raises(TenancyError, match=message):
            await call
    for missing in (service.get_tenant(unique("nobody")), service.create_key(unique("nobody")),
                    service.revoke_key("key_missing"), service.list_keys(unique("nobody"))):
        with pytest.raises(NotFoundError):
            await missing
    revoked = await service.create_key(name)
    await service.revoke_key(revoked.id)
    with pytest.raises(TenancyError, match="is revoked"):
        await service.rotate_key(revoked.id, grace=timedelta(0))
    assert [r["action"] for r in await audit_of(service, name)] == ["tenant.create"]


async def test_audit_pages_and_filters(service: TenancyService) -> None:
    name = unique("svc")
    await service.create_tenant(name, tier="pro", models=["*"])
    for rpm in range(1, 6):
        await service.update_tenant(name, limits={"rpm": rpm})
    updates = await service.list_audit(target=name, action="tenant.update", limit=3)
    assert [r["after"]["limits"]["rpm"] for r in updates] == [5, 4, 3]
    rest = await service.list_audit(target=name, action="tenant.update", before_id=updates[-1]["id"])
    assert [r["after"]["limits"]["rpm"] for r in rest] == [2, 1]
