"""The overview (requests, spend, tokens, error and cache-hit rates; top tenants, features and
models) and the usage page (by day, feature, model and tenant; charts, tables, CSV). Each
page is one session lookup and one usage query (gateway/usage/breakdown.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.api.deps import RuntimeDep
from gateway.console.charts import column_chart, days_between, share
from gateway.console.web import PREFIX, render, viewer
from gateway.usage.breakdown import Breakdown, Filters, breakdown
from gateway.usage.formatting import render as render_report
from gateway.usage.reports import ReportError, Totals, UsageQuery, parse_time, run_report

router = APIRouter(prefix=PREFIX)

RANGES = {"24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days"}
USAGE_RANGES = ("7d", "30d", "90d", "365d")
_TOP = 6


def _rates(totals: Totals) -> dict[str, float | None]:
    requests = totals.requests
    return {"error_rate": totals.errors / requests if requests else None,
            "cache_hit_rate": totals.cache_hits / requests if requests else None}


def _daily(result: Breakdown, first: date, last: date) -> list[tuple[str, Totals]]:
    """Every day of the range, zero where nothing was recorded (a chart with gaps lies)."""
    known = dict(result.by["day"])
    return [(d.isoformat(), known.get(d.isoformat(), Totals())) for d in days_between(first, last)]


def _top(result: Breakdown, dimension: str, n: int = _TOP) -> list[dict[str, Any]]:
    rows = result.top(dimension, n)
    largest = float(max((t.cost_usd for _, t in rows), default=0)) or float(max((t.requests for _, t in rows),
                                                                                   default=0))
    by_cost = any(t.cost_usd for _, t in rows)
    return [{"name": name or "(none)", "totals": t,
             "share": share(float(t.cost_usd) if by_cost else float(t.requests), largest)} for name, t in rows]


@router.get("/")
async def overview(request: Request, runtime: RuntimeDep, range: str = "24h") -> Response:
    me = await viewer(request, runtime)
    if range not in RANGES:
        range = "24h"
    now = datetime.now(UTC)
    since = now - timedelta(hours=24) if range == "24h" else parse_time(range, now)
    result = await breakdown(runtime.engine, since)
    days = _daily(result, since.date(), now.date())
    return render(request, "overview.html", me, range=range, ranges=RANGES, totals=result.totals,
                  rates=_rates(result.totals),
                  spend_chart=column_chart("Spend by day (USD)", [(d, float(t.cost_usd)) for d, t in days], "${:,.2f}"),
                  requests_chart=column_chart("Requests by day", [(d, float(t.requests)) for d, t in days]),
                  tenants=_top(result, "tenant"), features=_top(result, "feature"), models=_top(result, "model"))


def _usage_query(since: str, until: str | None, now: datetime) -> tuple[datetime, datetime | None]:
    start = parse_time(since, now)
    end = parse_time(until, now) if until else None
    if end is not None and end <= start:
        raise ReportError("`until` must be after `since`")
    return start, end


@router.get("/usage")
async def usage(request: Request, runtime: RuntimeDep, since: str = "30d", until: str | None = None,
                tenant: str | None = None, feature: str | None = None, model: str | None = None) -> Response:
    me = await viewer(request, runtime)
    now = datetime.now(UTC)
    filters = Filters(tenant=tenant or None, feature=feature or None, model=model or None)
    error = None
    try:
        start, end = _usage_query(since, until or None, now)
    except ReportError as exc:
        error = str(exc)
        since, until = "30d", None
        start, end = parse_time(since, now), None
    result = await breakdown(runtime.engine, start, end, filters)
    last = (end - timedelta(microseconds=1)).date() if end is not None else now.date()
    days = _daily(result, start.date(), max(last, start.date()))
    query = {k: v for k, v in {"since": since, "until": until, "tenant": tenant, "feature": feature,
                               "model": model}.items() if v}
    return render(request, "usage.html", me, error=error, since=since, until=until or "", filters=filters,
                  ranges=USAGE_RANGES, totals=result.totals, rates=_rates(result.totals), days=days,
                  spend_chart=column_chart("Spend by day (USD)", [(d, float(t.cost_usd)) for d, t in days], "${:,.2f}"),
                  tokens_chart=column_chart("Tokens by day", [(d, float(t.prompt_tokens + t.completion_tokens))
                                                               for d, t in days]),
                  by_feature=_top(result, "feature", 50), by_model=_top(result, "model", 50),
                  by_tenant=_top(result, "tenant", 50), query=query)


@router.get("/usage.csv")
async def usage_csv(request: Request, runtime: RuntimeDep, since: str = "30d", until: str | None = None,
                    tenant: str | None = None, feature: str | None = None, model: str | None = None) -> Response:
    """The rows behind the usage page, by day, tenant, feature and model (`llm-gateway usage`'s CSV)."""
    await viewer(request, runtime)
    now = datetime.now(UTC)
    try:
        start, end = _usage_query(since, until or None, now)
        query = UsageQuery(since=start, until=end, tenant=tenant or None, feature=feature or None,
                           model=model or None, group_by=("day", "tenant", "feature", "model"))
    except ReportError as exc:
        return Response(f"{exc}\n", status_code=400, media_type="text/plain; charset=utf-8")
    report = await run_report(runtime.engine, query)
    return Response(render_report(report, "csv"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="usage-{now:%Y%m%d}.csv"',
                             "Cache-Control": "no-store"})
