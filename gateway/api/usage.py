"""GET /admin/usage: the usage report of `llm-gateway usage` over HTTP (the viewer role or the admin key).

    GET /admin/usage?since=30d&group_by=tenant,feature,day&format=csv

Query parameters: tenant, feature, model, since (default 7d), until, group_by
(comma-separated: tenant, model, provider, feature, day, api, prompt, version; by prompt or
version a report adds validation_failures), format (json, csv or table;
default json).
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import Response

from gateway.api.admin import ViewerRuntime
from gateway.errors import InvalidRequest, NotFound
from gateway.usage.formatting import FORMATS, render
from gateway.usage.reports import ReportError, UnknownTenant, UsageQuery, parse_group_by, parse_time, run_report

router = APIRouter(prefix="/admin")

_MEDIA_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8", "table": "text/plain; charset=utf-8"}


@router.get("/usage")
async def usage_report(runtime: ViewerRuntime, tenant: str | None = None, feature: str | None = None,
                       model: str | None = None, since: str = "7d", until: str | None = None,
                       group_by: str | None = None, format: str = "json") -> Response:
    if format not in FORMATS:
        raise InvalidRequest(f"`format` must be one of {', '.join(FORMATS)}.", param="format")
    now = datetime.now(UTC)
    try:
        query = UsageQuery(since=parse_time(since, now), until=parse_time(until, now) if until else None,
                           tenant=tenant, feature=feature, model=model, group_by=parse_group_by(group_by))
    except ReportError as exc:
        raise InvalidRequest(f"{exc}.") from None
    try:
        report = await run_report(runtime.engine, query)
    except UnknownTenant as exc:
        raise NotFound(f"{exc}.", param="tenant", code="tenant_not_found") from None
    return Response(render(report, format), media_type=_MEDIA_TYPES[format])
