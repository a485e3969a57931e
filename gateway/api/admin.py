"""The admin API: tenants, keys and the audit log -- the same operations as the CLI.

Authenticated with the admin key (GATEWAY_ADMIN_KEY or the stored generated one; it counts
as the admin role) or a console session cookie (the person's role; a change also needs the
session's `x-csrf-token` header). Reads need viewer, key operations and tenant edits
operator, creating and disabling tenants admin (gateway/console/roles.py). A tenant key is
refused like any wrong key, with an OpenAI-shaped 401; a role too low gets 403.
`serve --admin-port` serves these routes on their own listener and not on the public one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.api.auth import RoleRequired, api_caller
from gateway.api.deps import RuntimeDep
from gateway.api.errors import request_id_of
from gateway.errors import InvalidRequest
from gateway.identity.roles import ADMIN_KEY_SUBJECT, Principal, Role
from gateway.runtime import Runtime
from gateway.tenancy import audit
from gateway.tenancy.audit import Actor
from gateway.tenancy.durations import parse_duration
from gateway.tenancy.effective import effective_view
from gateway.tenancy.service import IssuedKey, TenancyError

ACTOR = "admin-api"


_NUL = "\x00"   # PostgreSQL text cannot hold it: refused here, not by the database as a 500


def _refuse_nul(request: Request) -> None:
    for name, value in [*request.path_params.items(), *request.query_params.items()]:
        if isinstance(value, str) and _NUL in value:
            raise InvalidRequest(f"`{name}` must not contain a NUL character.", param=name)


def _without_nul(value: Any) -> Any:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and _NUL in item:
            raise ValueError("strings must not contain a NUL character")
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


async def _viewer(request: Request, runtime: RuntimeDep) -> Runtime:
    await api_caller(request, runtime, Role.VIEWER)
    _refuse_nul(request)
    return runtime


async def _operator(request: Request, runtime: RuntimeDep) -> Principal:
    caller = await api_caller(request, runtime, Role.OPERATOR)
    _refuse_nul(request)
    return caller


async def _admin(request: Request, runtime: RuntimeDep) -> Principal:
    caller = await api_caller(request, runtime, Role.ADMIN)
    _refuse_nul(request)
    return caller


ViewerRuntime = Annotated[Runtime, Depends(_viewer)]
Operator = Annotated[Principal, Depends(_operator)]
Admin = Annotated[Principal, Depends(_admin)]
router = APIRouter(prefix="/admin")


def actor_of(principal: Principal) -> str | Actor:
    """The admin key is recorded as `admin-api`, as before; a console session as its person."""
    return ACTOR if principal.subject == ADMIN_KEY_SUBJECT else principal.actor


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return _without_nul(data)


class TenantCreate(_Body):
    name: str
    tier: str = "free"
    models: list[str] = Field(default_factory=list)
    limits: dict[str, Any] = Field(default_factory=dict)
    pii_mode: str | None = None
    cache_mode: str | None = None
    validation_mode: str | None = None            # pass | retry | reject; null: the catalog's


class TenantUpdate(_Body):
    tier: str | None = None
    models: list[str] | None = None
    limits: dict[str, Any] | None = None          # overrides to set; null for a value means unlimited
    clear_limits: list[str] = Field(default_factory=list)   # overrides to drop (back to the tier)
    pii_mode: str | None = None                   # "default": the catalog's
    cache_mode: str | None = None
    validation_mode: str | None = None            # "default": the catalog's
    disabled: bool | None = None


class KeyCreate(_Body):
    label: str | None = None
    expires_in: str | int | None = None           # 90s, 15m, 1h, 30d (a unit is required)
    limits: dict[str, Any] | None = None          # the key's own rpm, tpm, ... on top of its tenant's


class KeyRotate(_Body):
    grace: str | int = "1h"                       # how long the old key keeps working
    expires_in: str | int | None = None


def _duration(value: str | int | None, name: str, *, allow_zero: bool = False) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value, allow_zero=allow_zero)
    except ValueError as exc:
        raise TenancyError(f"{name}: {exc}") from None


def _issued(issued: IssuedKey, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = "no-store"    # the only copy of the key: keep it out of caches
    return {"id": issued.id, "key": issued.key, "prefix": issued.prefix, "tenant": issued.tenant,
            "expires_at": issued.expires_at.isoformat() if issued.expires_at else None}


@router.get("/tenants")
async def list_tenants(runtime: ViewerRuntime) -> dict[str, Any]:
    return {"data": await runtime.tenancy.list_tenants()}


@router.post("/tenants", status_code=201)
async def create_tenant(spec: TenantCreate, request: Request, runtime: RuntimeDep, caller: Admin) -> dict[str, Any]:
    return await runtime.tenancy.create_tenant(spec.name, tier=spec.tier, models=spec.models, limits=spec.limits,
                                               pii_mode=spec.pii_mode, cache_mode=spec.cache_mode,
                                               validation_mode=spec.validation_mode, actor=actor_of(caller),
                                               request_id=request_id_of(request))


@router.get("/tenants/{name}")
async def show_tenant(name: str, runtime: ViewerRuntime) -> dict[str, Any]:
    return effective_view(await runtime.tenancy.get_tenant(name), runtime.catalog)


@router.patch("/tenants/{name}")
async def update_tenant(name: str, spec: TenantUpdate, request: Request, runtime: RuntimeDep,
                        caller: Operator) -> dict[str, Any]:
    if spec.disabled is not None and not caller.can(Role.ADMIN):
        raise RoleRequired("Disabling or enabling a tenant needs the admin role.")
    return await runtime.tenancy.update_tenant(
        name, tier=spec.tier, models=spec.models, limits=spec.limits, clear_limits=spec.clear_limits,
        pii_mode=spec.pii_mode, cache_mode=spec.cache_mode, validation_mode=spec.validation_mode,
        disabled=spec.disabled,
        actor=actor_of(caller), request_id=request_id_of(request))


@router.post("/tenants/{name}/disable")
async def disable_tenant(name: str, request: Request, runtime: RuntimeDep, caller: Admin) -> dict[str, Any]:
    return await runtime.tenancy.disable_tenant(name, actor=actor_of(caller), request_id=request_id_of(request))


@router.post("/tenants/{name}/keys", status_code=201)
async def create_key(name: str, spec: KeyCreate, request: Request, response: Response,
                     runtime: RuntimeDep, caller: Operator) -> dict[str, Any]:
    issued = await runtime.tenancy.create_key(name, label=spec.label,
                                              expires_in=_duration(spec.expires_in, "expires_in"),
                                              limits=spec.limits, actor=actor_of(caller),
                                              request_id=request_id_of(request))
    return _issued(issued, response)


@router.get("/tenants/{name}/keys")
async def list_keys(name: str, runtime: ViewerRuntime) -> dict[str, Any]:
    return {"data": await runtime.tenancy.list_keys(name)}


@router.get("/keys/{key_id}")
async def show_key(key_id: str, runtime: ViewerRuntime) -> dict[str, Any]:
    return await runtime.tenancy.get_key(key_id)


@router.post("/keys/{key_id}/revoke")
@router.delete("/keys/{key_id}")
async def revoke_key(key_id: str, request: Request, runtime: RuntimeDep, caller: Operator) -> dict[str, Any]:
    return await runtime.tenancy.revoke_key(key_id, actor=actor_of(caller), request_id=request_id_of(request))


@router.post("/keys/{key_id}/rotate", status_code=201)
async def rotate_key(key_id: str, spec: KeyRotate, request: Request, response: Response,
                     runtime: RuntimeDep, caller: Operator) -> dict[str, Any]:
    grace = _duration(spec.grace, "grace", allow_zero=True) or timedelta(0)
    issued, old = await runtime.tenancy.rotate_key(key_id, grace=grace,
                                                   expires_in=_duration(spec.expires_in, "expires_in"),
                                                   actor=actor_of(caller), request_id=request_id_of(request))
    return {**_issued(issued, response), "replaces": old}


@router.get("/audit")
async def list_audit(runtime: ViewerRuntime, target: str | None = None, action: str | None = None,
                     limit: int = 100, before_id: int | None = None) -> dict[str, Any]:
    return {"data": await runtime.tenancy.list_audit(target=target, action=action, limit=limit,
                                                     before_id=before_id)}


class CacheClear(_Body):
    tenant: str
    model: str | None = None


@router.post("/cache/clear")
async def clear_cache(spec: CacheClear, request: Request, runtime: RuntimeDep, caller: Operator) -> dict[str, Any]:
    """Drops a tenant's cached answers, exact and semantic (of one model, when given)."""
    if runtime.catalog.cache.scope != "tenant":
        raise TenancyError("the cache is shared by all tenants (cache.scope: shared): no tenant's entries to clear")
    if spec.model is not None and spec.model not in runtime.catalog.models:
        raise TenancyError(f"unknown model {spec.model!r}")
    tenant = await runtime.tenancy.get_tenant(spec.tenant)
    removed = await runtime.pipeline.cache.clear(tenant["id"], spec.model)
    async with runtime.engine.begin() as conn:     # every admin change names who made it
        await audit.record(conn, actor=actor_of(caller), action="cache.clear", target=spec.tenant,
                           before=None, after={"model": spec.model, "removed": removed},
                           request_id=request_id_of(request))
    return {"tenant": spec.tenant, "model": spec.model, "removed": removed}
