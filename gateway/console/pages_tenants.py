"""Tenants and their keys: list with search, create, edit (tier, limit overrides, allowlist,
PII and cache modes), disable and enable; each tenant's budget used against its limits now;
keys created (shown once), rotated with a grace period, revoked. Every change goes through
the tenancy service, which writes the audit row naming the person in the same transaction."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.api.deps import RuntimeDep
from gateway.api.errors import request_id_of
from gateway.console.web import PREFIX, Form, change, redirect, render, viewer
from gateway.identity.roles import Principal, Role
from gateway.runtime import Runtime
from gateway.tenancy.durations import parse_duration
from gateway.tenancy.models import LIMIT_NAMES
from gateway.tenancy.service import IssuedKey, NotFoundError, TenancyError
from gateway.tenancy.validation import CACHE_MODES, PII_MODES, VALIDATION_MODES
from gateway.usage.breakdown import budget_used

router = APIRouter(prefix=PREFIX)

LIMIT_LABELS = {"rpm": "Requests / minute", "rpd": "Requests / day", "tpm": "Tokens / minute",
                "daily_tokens": "Tokens / day", "monthly_usd": "USD / month"}
NOTICES = {"created": "Tenant created.", "updated": "Settings saved.",
           "disabled": "Tenant disabled: its keys now get 401.", "enabled": "Tenant enabled.",
           "revoked": "Key revoked: it now gets 401 on every replica."}
GRACE_CHOICES = ("0s", "15m", "1h", "24h", "7d")
EXPIRY_CHOICES = ("", "30d", "90d", "365d")


def tenant_path(name: str) -> str:
    return f"{PREFIX}/tenants/{quote(name, safe='')}"


@router.get("/tenants")
async def tenants_page(request: Request, runtime: RuntimeDep, q: str = "") -> Response:
    me = await viewer(request, runtime)
    return await _tenants(request, runtime, me, q)


async def _tenants(request: Request, runtime: Runtime, me: Principal, q: str = "", *, status: int = 200,
                   error: str | None = None, form: Form | None = None) -> Response:
    everyone = await runtime.tenancy.list_tenants()
    needle = q.strip().lower()
    shown = [t for t in everyone if needle in t["name"].lower()] if needle else everyone
    return render(request, "tenants.html", me, status=status, tenants=shown, total=len(everyone), q=q,
                  tiers=list(runtime.catalog.tiers), error=error,
                  draft={"name": form.get("name"), "tier": form.get("tier"), "models": form.get("models")}
                  if form else None)


@router.post("/tenants")
async def create_tenant(request: Request, runtime: RuntimeDep) -> Response:
    me, form = await change(request, runtime, Role.ADMIN)
    name = form.get("name")
    try:
        await runtime.tenancy.create_tenant(name, tier=form.get("tier", "free"), models=_models(form.get("models")),
                                            actor=me.actor, request_id=request_id_of(request))
    except TenancyError as exc:
        return await _tenants(request, runtime, me, status=400, error=str(exc), form=form)
    return redirect(tenant_path(name) + "?ok=created")


@router.get("/tenants/{name}")
async def tenant_page(request: Request, runtime: RuntimeDep, name: str, ok: str | None = None) -> Response:
    me = await viewer(request, runtime)
    return await _tenant(request, runtime, me, name, notice=NOTICES.get(ok or ""))


async def _tenant(request: Request, runtime: Runtime, me: Principal, name: str, *, status: int = 200,
                  notice: str | None = None, error: str | None = None, issued: IssuedKey | None = None,
                  replaced: str | None = None) -> Response:
    try:
        tenant = await runtime.tenancy.get_tenant(name)
        keys = await runtime.tenancy.list_keys(name)
    except NotFoundError:
        return render(request, "not_found.html", me, status=404, what=f"No tenant named {name!r}.")
    used = await budget_used(runtime.engine, name)
    tier = runtime.catalog.tiers.get(tenant["tier"])
    limits = []
    for limit in LIMIT_NAMES:
        overridden = limit in tenant["limits"]
        value = tenant["limits"][limit] if overridden else (getattr(tier, limit) if tier else None)
        limits.append({"name": limit, "label": LIMIT_LABELS[limit], "value": value, "overridden": overridden,
                       "field": ("unlimited" if value is None else str(value)) if overridden else ""})
    budget = [_gauge("Requests this minute", used.requests_this_minute, _limit(limits, "rpm")),
              _gauge("Tokens today", used.tokens_today, _limit(limits, "daily_tokens")),
              _gauge("USD this month", used.usd_this_month, _limit(limits, "monthly_usd"), money=True)]
    return render(request, "tenant.html", me, status=status, tenant=tenant, keys=keys, limits=limits,
                  budget=budget, tiers=list(runtime.catalog.tiers), pii_modes=("default", *PII_MODES),
                  cache_modes=("default", *CACHE_MODES), validation_modes=("default", *VALIDATION_MODES),
                  notice=notice, error=error, issued=issued,
                  replaced=replaced, grace_choices=GRACE_CHOICES, expiry_choices=EXPIRY_CHOICES)


def _limit(limits: list[dict[str, Any]], name: str) -> Any:
    return next(item["value"] for item in limits if item["name"] == name)


def _gauge(label: str, used: int | Decimal, limit: Any, *, money: bool = False) -> dict[str, Any]:
    fraction = float(used) / float(limit) if limit else None
    return {"label": label, "used": used, "limit": limit, "money": money,
            "percent": min(100.0, round(100 * fraction, 1)) if fraction is not None else None,
            "level": "high" if fraction is not None and fraction >= 0.9 else
                     "mid" if fraction is not None and fraction >= 0.7 else "low"}


def _models(text: str) -> list[str]:
    return [m.strip() for m in text.replace("\n", ",").split(",") if m.strip()]


def _limit_value(name: str, text: str) -> Any:
    """A limit field: a number, or `unlimited`. (Blank means the tier's; the caller drops it.)"""
    if text.lower() == "unlimited":
        return None
    try:
        number = Decimal(text.replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise TenancyError(f"{LIMIT_LABELS[name]}: `{text}` is not a number "
                           "(or `unlimited`, or blank for the tier)") from None
    if name == "monthly_usd" or number != number.to_integral():
        return float(number)
    return int(number)


@router.post("/tenants/{name}")
async def update_tenant(request: Request, runtime: RuntimeDep, name: str) -> Response:
    me, form = await change(request, runtime, Role.OPERATOR)
    try:
        current = await runtime.tenancy.get_tenant(name)
        limits = {n: _limit_value(n, form.get(n)) for n in LIMIT_NAMES if form.get(n)}
        clear = [n for n in LIMIT_NAMES if not form.get(n) and n in current["limits"]]
        await runtime.tenancy.update_tenant(
            name, tier=form.get("tier") or None, models=_models(form.get("models")), limits=limits,
            clear_limits=clear, pii_mode=form.get("pii_mode") or None, cache_mode=form.get("cache_mode") or None,
            validation_mode=form.get("validation_mode") or None, actor=me.actor, request_id=request_id_of(request))
    except NotFoundError:
        return render(request, "not_found.html", me, status=404, what=f"No tenant named {name!r}.")
    except TenancyError as exc:
        return await _tenant(request, runtime, me, name, status=400, error=str(exc))
    return redirect(tenant_path(name) + "?ok=updated")


@router.post("/tenants/{name}/disable")
async def disable_tenant(request: Request, runtime: RuntimeDep, name: str) -> Response:
    me, _ = await change(request, runtime, Role.ADMIN)
    try:
        await runtime.tenancy.disable_tenant(name, actor=me.actor, request_id=request_id_of(request))
    except NotFoundError:
        return render(request, "not_found.html", me, status=404, what=f"No tenant named {name!r}.")
    return redirect(tenant_path(name) + "?ok=disabled")


@router.post("/tenants/{name}/enable")
async def enable_tenant(request: Request, runtime: RuntimeDep, name: str) -> Response:
    me, _ = await change(request, runtime, Role.ADMIN)
    try:
        await runtime.tenancy.update_tenant(name, disabled=False, actor=me.actor,
                                            request_id=request_id_of(request), action="tenant.enable")
    except NotFoundError:
        return render(request, "not_found.html", me, status=404, what=f"No tenant named {name!r}.")
    return redirect(tenant_path(name) + "?ok=enabled")


def _duration(text: str, what: str) -> timedelta | None:
    if not text:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise TenancyError(f"{what}: {exc}") from None


@router.post("/tenants/{name}/keys")
async def create_key(request: Request, runtime: RuntimeDep, name: str) -> Response:
    me, form = await change(request, runtime, Role.OPERATOR)
    try:
        issued = await runtime.tenancy.create_key(name, label=form.get("label") or None,
                                                  expires_in=_duration(form.get("expires_in"), "Expires in"),
                                                  actor=me.actor, request_id=request_id_of(request))
    except NotFoundError:
        return render(request, "not_found.html", me, status=404, what=f"No tenant named {name!r}.")
    except TenancyError as exc:
        return await _tenant(request, runtime, me, name, status=400, error=str(exc))
    return await _tenant(request, runtime, me, name, status=201, issued=issued)


@router.post("/keys/{key_id}/rotate")
async def rotate_key(request: Request, runtime: RuntimeDep, key_id: str) -> Response:
    me, form = await change(request, runtime, Role.OPERATOR)
    tenant = form.get("tenant")
    try:
        grace = _duration(form.get("grace", "1h"), "Grace period") or timedelta(0)
        issued, _ = await runtime.tenancy.rotate_key(key_id, grace=grace, actor=me.actor,
                                                     request_id=request_id_of(request))
    except NotFoundError:
        return render(request, "not_found.html", me, status=404, what=f"No key {key_id!r}.")
    except TenancyError as exc:
        return await _tenant(request, runtime, me, tenant, status=400, error=str(exc))
    return await _tenant(request, runtime, me, issued.tenant, status=201, issued=issued, replaced=key_id)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, runtime: RuntimeDep, key_id: str) -> Response:
    me, form = await change(request, runtime, Role.OPERATOR)
    try:
        await runtime.tenancy.revoke_key(key_id, actor=me.actor, request_id=request_id_of(request))
    except NotFoundError:
        return render(request, "not_found.html", me, status=404, what=f"No key {key_id!r}.")
    return redirect(tenant_path(form.get("tenant")) + "?ok=revoked" if form.get("tenant") else PREFIX + "/tenants")
