"""The admin API: tenants, keys and the audit log. Authenticated with the admin key only;
a tenant key is refused like any wrong key."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import RuntimeDep, bearer_token
from gateway.errors import AuthenticationFailed
from gateway.runtime import Runtime
from gateway.tenancy.tables import audit_log


def require_admin(request: Request, runtime: RuntimeDep) -> Runtime:
    token = bearer_token(request) or ""
    if not hmac.compare_digest(token.encode(), runtime.admin_key.encode()):
        raise AuthenticationFailed("Incorrect or missing admin key.")
    return runtime


AdminRuntime = Annotated[Runtime, Depends(require_admin)]
router = APIRouter(prefix="/admin")


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    tier: str = "free"
    models: list[str] = Field(default_factory=list)
    limits: dict[str, Any] = Field(default_factory=dict)
    pii_mode: str | None = None
    cache_mode: str | None = None


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str | None = None


@router.get("/tenants")
async def list_tenants(runtime: AdminRuntime) -> dict[str, Any]:
    return {"data": await runtime.tenancy.list_tenants()}


@router.post("/tenants", status_code=201)
async def create_tenant(spec: TenantCreate, runtime: AdminRuntime) -> dict[str, Any]:
    return await runtime.tenancy.create_tenant(spec.name, tier=spec.tier, models=spec.models, limits=spec.limits,
                                               pii_mode=spec.pii_mode, cache_mode=spec.cache_mode, actor="admin-api")


@router.get("/tenants/{name}")
async def show_tenant(name: str, runtime: AdminRuntime) -> dict[str, Any]:
    return await runtime.tenancy.get_tenant(name)


@router.post("/tenants/{name}/keys", status_code=201)
async def create_key(name: str, spec: KeyCreate, runtime: AdminRuntime) -> dict[str, Any]:
    issued = await runtime.tenancy.create_key(name, label=spec.label, actor="admin-api")
    return {"id": issued.id, "key": issued.key, "prefix": issued.prefix, "tenant": issued.tenant}


@router.get("/tenants/{name}/keys")
async def list_keys(name: str, runtime: AdminRuntime) -> dict[str, Any]:
    await runtime.tenancy.get_tenant(name)
    return {"data": await runtime.tenancy.list_keys(name)}


@router.delete("/keys/{key_id}")
async def revoke_key(key_id: str, runtime: AdminRuntime) -> dict[str, Any]:
    row = await runtime.tenancy.revoke_key(key_id, actor="admin-api")
    runtime.directory.invalidate(row.pop("key_hash"))
    return row


@router.get("/audit")
async def list_audit(runtime: AdminRuntime, limit: int = 100) -> dict[str, Any]:
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(min(max(limit, 1), 1000))
    async with runtime.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {"data": [{"id": r.id, "ts": r.ts.isoformat(), "actor": r.actor, "action": r.action,
                      "target": r.target, "before": r.before, "after": r.after, "request_id": r.request_id}
                     for r in rows]}
