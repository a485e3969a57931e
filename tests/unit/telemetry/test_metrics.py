"""The metric registry against DESIGN.md's contract: names, types, labels, buckets, and
gauge modes that stay right with several workers."""

from __future__ import annotations

from prometheus_client import Gauge, Histogram

from gateway.telemetry import metrics

# DESIGN.md, Metrics, plus breaker transitions (issue 8), rate-limit degradation (issue 4) and
# vLLM picker decisions (issue 17) and the usage stream's drainers (issue 21).
CONTRACT = {
    "gateway_requests_total": ("counter", ("tenant", "model", "provider", "status")),
    "gateway_request_duration_seconds": ("histogram", ("provider", "model")),
    "gateway_overhead_seconds": ("histogram", ()),
    "gateway_time_to_first_token_seconds": ("histogram", ("provider", "model")),
    "gateway_tokens_total": ("counter", ("tenant", "model", "kind")),
    "gateway_cost_usd_total": ("counter", ("tenant", "model")),
    "gateway_cache_requests_total": ("counter", ("result", "match")),   # match: issue 16
    "gateway_cache_similarity": ("histogram", ()),
    "gateway_cache_embedding_seconds": ("histogram", ("model", "outcome")),
    "gateway_guardrail_events_total": ("counter", ("tenant", "type")),
    "gateway_ratelimit_rejections_total": ("counter", ("tenant", "limit")),
    "gateway_ratelimit_degraded": ("gauge", ()),
    "gateway_upstream_errors_total": ("counter", ("provider", "kind")),
    "gateway_fallbacks_total": ("counter", ("from_provider", "to_provider")),
    "gateway_circuit_state": ("gauge", ("provider",)),
    "gateway_circuit_transitions_total": ("counter", ("provider", "to")),
    "gateway_usage_outbox_pending": ("gauge", ()),
    "gateway_picker_decisions_total": ("counter", ("provider", "replica", "reason")),   # issue 17
    "gateway_usage_stream_drainers": ("gauge", ()),   # issue 21: a usage stream nobody drains shows as 0
    "gateway_guardrail_webhook_calls_total": ("counter", ("hook", "phase", "outcome")),   # issue 20
    "gateway_response_validations_total": ("counter", ("verdict",)),                      # issue 20
}


def test_the_exported_names_and_types_are_the_contract() -> None:
    assert metrics.exported_metrics() == {name: kind for name, (kind, _) in CONTRACT.items()}


def test_each_metric_has_the_contract_labels() -> None:
    by_name = {name: metric for metric in metrics.ALL_METRICS for name in _names(metric)}
    for name, (_, labels) in CONTRACT.items():
        assert by_name[name]._labelnames == labels, name


def test_latency_buckets_span_10ms_to_120s_and_overhead_100us_to_100ms() -> None:
    for histogram in (metrics.REQUEST_DURATION, metrics.TTFT):
        assert isinstance(histogram, Histogram)
        assert histogram._kwargs["buckets"] == metrics.LATENCY_BUCKETS
    assert metrics.OVERHEAD._upper_bounds[:-1] == list(metrics.OVERHEAD_BUCKETS)
    assert (metrics.LATENCY_BUCKETS[0], metrics.LATENCY_BUCKETS[-1]) == (0.01, 120)
    assert (metrics.OVERHEAD_BUCKETS[0], metrics.OVERHEAD_BUCKETS[-1]) == (0.0001, 0.1)
    for buckets in (metrics.LATENCY_BUCKETS, metrics.OVERHEAD_BUCKETS):
        assert list(buckets) == sorted(set(buckets))


def test_gauges_forget_dead_workers() -> None:
    """`live*` modes: mark_process_dead drops a gone worker's value instead of keeping it."""
    gauges = [m for m in metrics.ALL_METRICS if isinstance(m, Gauge)]
    assert gauges and all(g._multiprocess_mode.startswith("live") for g in gauges)


def test_declared_providers_start_closed() -> None:
    metrics.declare_providers(["unit-provider-a"])
    assert metrics.CIRCUIT_STATE.labels("unit-provider-a")._value.get() == 0


def _names(metric: object) -> list[str]:
    return [f.name + "_total" if f.type == "counter" else f.name for f in metric.describe()]  # type: ignore[attr-defined]


def test_a_kept_child_is_the_one_labels_returns_and_counts_in_the_exposition() -> None:
    tenant = "child-test-tenant"
    kept = metrics.child(metrics.TOKENS, tenant, "child-model", "prompt")
    assert kept is metrics.TOKENS.labels(tenant, "child-model", "prompt")
    assert metrics.child(metrics.TOKENS, tenant, "child-model", "prompt") is kept
    kept.inc(3)
    metrics.child(metrics.TOKENS, tenant, "child-model", "prompt").inc(4)
    assert metrics.TOKENS.labels(tenant, "child-model", "prompt")._value.get() == 7
