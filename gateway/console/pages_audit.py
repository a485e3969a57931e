"""The audit log: who (the person's email and subject, or the CLI / admin key), what, when,
and the fields that changed, newest first, filtered by action or target, paged."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.api.deps import RuntimeDep
from gateway.console.web import DASH, PREFIX, render, viewer

router = APIRouter(prefix=PREFIX)
PAGE = 50
_HIDDEN = frozenset({"id", "tenant_id", "created_at", "updated_at"})


def difference(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The fields whose values differ (a creation: every field it set), as display strings."""
    before, after = before or {}, after or {}
    rows = []
    for name in [*after, *(k for k in before if k not in after)]:
        old, new = before.get(name), after.get(name)
        if old == new or (name in _HIDDEN and before):
            continue
        if not before and (new is None or new is False or new == [] or new == {} or name in _HIDDEN):
            continue
        rows.append({"field": name, "before": _show(old) if before else None, "after": _show(new)})
    return rows


def _show(value: Any) -> str:
    if value is None:
        return DASH
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={'unlimited' if v is None else v}" for k, v in value.items()) or "(none)"
    return str(value)


@router.get("/audit")
async def audit_page(request: Request, runtime: RuntimeDep, action: str | None = None, target: str | None = None,
                     before_id: int | None = None) -> Response:
    me = await viewer(request, runtime)
    entries = await runtime.tenancy.list_audit(action=action or None, target=target or None, limit=PAGE + 1,
                                               before_id=before_id)
    more = len(entries) > PAGE
    entries = entries[:PAGE]
    for entry in entries:
        entry["changes"] = difference(entry["before"], entry["after"])
    return render(request, "audit.html", me, entries=entries, action=action or "", target=target or "",
                  next_before=entries[-1]["id"] if more and entries else None)
