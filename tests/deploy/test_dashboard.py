"""deploy/grafana/llm-gateway.json is valid Grafana dashboard JSON and every panel
queries only metrics the gateway exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from gateway.telemetry.metrics import exported_metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "llm-gateway.json"

# The gateway's metrics, from its own registry. Histograms also expose _bucket/_sum/_count.
GATEWAY_METRICS = exported_metrics()

# What the issue asks the dashboard to show, as (metric, what a panel must do with it).
REQUIRED_VIEWS = [
    ("gateway_requests_total", "by (provider, model)"),
    ("gateway_request_duration_seconds_bucket", "histogram_quantile(0.95"),
    ("gateway_tokens_total", "by (tenant"),
    ("gateway_cost_usd_total", "by (tenant, model)"),
    ("gateway_cache_requests_total", 'result="hit"'),
    ("gateway_guardrail_events_total", "by (type)"),
    ("gateway_circuit_state", "by (provider)"),
    ("gateway_ratelimit_rejections_total", "rate("),
    ("gateway_usage_outbox_pending", "max("),
    ("gateway_overhead_seconds_bucket", "histogram_quantile(0.99"),
]

# PromQL words that look like identifiers but are not metric names.
PROMQL_WORDS = {
    "sum", "rate", "increase", "irate", "histogram_quantile", "by", "without", "max", "min", "avg",
    "count", "topk", "bottomk", "sort_desc", "sort", "clamp_min", "clamp_max", "le", "on", "ignoring",
    "group_left", "group_right", "and", "or", "unless", "offset", "label_values", "abs", "vector",
}


def exported_series() -> set[str]:
    names = set()
    for metric, kind in GATEWAY_METRICS.items():
        names.add(metric)
        if kind == "histogram":
            names |= {f"{metric}_bucket", f"{metric}_sum", f"{metric}_count"}
    return names


def metric_names(expr: str) -> set[str]:
    """Identifiers in a PromQL expression that name series: not functions, keywords,
    label names inside {} or by(...), nor Grafana variables."""
    stripped = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    stripped = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", stripped)  # grouping labels
    stripped = re.sub(r'"[^"]*"', "", stripped)  # string literals
    stripped = re.sub(r"\[[^\]]*\]", "", stripped)  # range selectors
    stripped = re.sub(r"\$\w+", "", stripped)  # $__rate_interval, $tenant
    tokens = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", stripped))
    return {t for t in tokens if t not in PROMQL_WORDS and not re.fullmatch(r"e\d*", t)}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def test_is_a_grafana_dashboard(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "llm-gateway" and dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dashboard["panels"]:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] == "row":
            continue
        assert panel["type"] in {"timeseries", "stat", "bargauge", "state-timeline", "gauge", "table"}
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            assert target["expr"].strip()


def test_every_panel_queries_exported_metrics(dashboard: dict[str, Any]) -> None:
    exported = exported_series()
    for title, expr in queries(dashboard):
        names = metric_names(expr)
        assert names, f"{title!r} queries no metric: {expr}"
        assert names <= exported, f"{title!r} queries unknown metrics {names - exported}"


def test_metric_name_extraction_sees_unknown_names() -> None:
    expr = 'sum by (tenant) (rate(gateway_requests_total{tenant=~"$tenant"}[5m])) / gateway_made_up'
    assert metric_names(expr) == {"gateway_requests_total", "gateway_made_up"}


def test_shows_what_operators_ask_for(dashboard: dict[str, Any]) -> None:
    exprs = [expr for _, expr in queries(dashboard)]
    for metric, shape in REQUIRED_VIEWS:
        assert any(metric in e and shape in e for e in exprs), f"no panel shows {metric} with {shape}"
