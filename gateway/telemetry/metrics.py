"""Prometheus metrics (names and labels are a contract: DESIGN.md). Label values are
bounded: tenant, model, provider names from the catalog and tenants table, never request
ids or user text.

With several uvicorn workers (`llm-gateway serve --workers N`) prometheus_client's
multiprocess mode is on (PROMETHEUS_MULTIPROC_DIR, set before this module is imported):
counters and histograms are summed over every worker that ever ran, so they never go
backwards when a worker is replaced; gauges use `live*` modes, so a dead worker's last
value is dropped (`mark_process_dead`) instead of lingering.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TypeVar

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

Metric = TypeVar("Metric", bound=MetricWrapperBase)

# Multiprocess mode writes a file per metric kind and process as metrics are created: the
# directory an operator names may not exist yet when this module is first imported.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

# LLM calls take 10 ms to minutes; the gateway's own overhead is micro- to milliseconds.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)

REQUESTS = Counter("gateway_requests_total", "Chat completion requests by outcome.",
                   ["tenant", "model", "provider", "status"])
REQUEST_DURATION = Histogram("gateway_request_duration_seconds", "Request duration, end to end.",
                             ["provider", "model"], buckets=LATENCY_BUCKETS)
OVERHEAD = Histogram("gateway_overhead_seconds", "Time spent in the gateway, excluding the upstream wait.",
                     buckets=OVERHEAD_BUCKETS)
TTFT = Histogram("gateway_time_to_first_token_seconds", "Time to the first streamed chunk.",
                 ["provider", "model"], buckets=LATENCY_BUCKETS)
TOKENS = Counter("gateway_tokens_total", "Tokens charged.", ["tenant", "model", "kind"])
COST = Counter("gateway_cost_usd_total", "Cost in USD.", ["tenant", "model"])
CACHE = Counter("gateway_cache_requests_total", "Cache lookups by result and, for hits, the kind of match.",
                ["result", "match"])
CACHE_SIMILARITY = Histogram("gateway_cache_similarity", "Semantic lookups: the nearest stored prompt's cosine "
                             "similarity.", buckets=(0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.98, 1.0))
CACHE_EMBEDDING = Histogram("gateway_cache_embedding_seconds", "Semantic cache: time to embed a prompt.",
                            ["model", "outcome"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))
GUARDRAIL_EVENTS = Counter("gateway_guardrail_events_total", "PII findings.", ["tenant", "type"])
# Guardrail webhooks (gateway.yaml `guardrails.webhooks`): hook is the configured name;
# outcome: allow | block | modify | timeout | error | invalid.
GUARDRAIL_WEBHOOK_CALLS = Counter("gateway_guardrail_webhook_calls_total", "Guardrail webhook calls by outcome.",
                                  ["hook", "phase", "outcome"])
# Answers judged against their request's JSON Schema: passed | failed | retried | rejected.
RESPONSE_VALIDATIONS = Counter("gateway_response_validations_total", "JSON Schema verdicts on answers.",
                               ["verdict"])
RATELIMIT_REJECTIONS = Counter("gateway_ratelimit_rejections_total", "429s by limit.", ["tenant", "limit"])
RATELIMIT_DEGRADED = Gauge("gateway_ratelimit_degraded", "1 while Redis is unreachable for rate limits "
                           "(fail_open: limits held per process; fail_closed: 503).", multiprocess_mode="livemax")
UPSTREAM_ERRORS = Counter("gateway_upstream_errors_total", "Failed upstream attempts.", ["provider", "kind"])
FALLBACKS = Counter("gateway_fallbacks_total", "Moves to the next deployment.", ["from_provider", "to_provider"])
CIRCUIT_STATE = Gauge("gateway_circuit_state", "0 closed, 1 half-open, 2 open.", ["provider"],
                      multiprocess_mode="livemax")
CIRCUIT_TRANSITIONS = Counter("gateway_circuit_transitions_total", "Circuit breaker state changes.",
                              ["provider", "to"])
# vLLM pools: where the picker sent each request and why (reason: load, prefix, unknown,
# round_robin, fallback, queued; replica "none" with rejected or no_replica). Replica is the
# replica's host:port, bounded by the pool's size (and, with DNS discovery, its turnover).
PICKER_DECISIONS = Counter("gateway_picker_decisions_total", "vLLM replica picks by replica and reason.",
                           ["provider", "replica", "reason"])
# Each process reports its own view of the backlog; with a shared (Redis) outbox every
# worker sees the same number, so the largest live value is the backlog.
OUTBOX_PENDING = Gauge("gateway_usage_outbox_pending", "Usage records not yet in the database.",
                       multiprocess_mode="livemax")
# With Redis: consumers of the usage stream's group that read it lately (the drain processes).
# 0 while records wait means nobody drains them (`llm-gateway usage-drain`, or serve without --no-drain).
USAGE_DRAINERS = Gauge("gateway_usage_stream_drainers", "Consumers that read the usage stream lately.",
                       multiprocess_mode="livemax")

# Every metric defined above (a new one is listed without touching this line).
ALL_METRICS: tuple[MetricWrapperBase, ...] = tuple(m for m in globals().values() if isinstance(m, MetricWrapperBase))

# Series that exist from the start, so that rate() and dashboards see zeros, not gaps.
for _result, _match in (("hit", "exact"), ("hit", "semantic"), ("miss", "none"), ("bypass", "none")):
    CACHE.labels(_result, _match)
for _verdict in ("passed", "failed", "retried", "rejected"):
    RESPONSE_VALIDATIONS.labels(_verdict)


def exported_metrics() -> dict[str, str]:
    """Every metric the gateway exports, as the name a query uses -> its type. Histograms
    also expose `<name>_bucket`, `_sum` and `_count`."""
    exported: dict[str, str] = {}
    for metric in ALL_METRICS:
        for family in metric.describe():
            name = family.name + "_total" if family.type == "counter" else family.name
            exported[name] = family.type
    return exported


# A metric's child per label values, looked up once: `labels()` checks and joins its values
# and takes a lock on every call (~2 us); the request path updates six of them per request.
_CHILDREN: dict[tuple[int, tuple[str, ...]], MetricWrapperBase] = {}
_CHILDREN_MAX = 100_000   # label values are bounded (tenants x models x providers); a backstop


def child(metric: Metric, *labels: str) -> Metric:
    """`metric.labels(*labels)`, kept: the same child object prometheus_client holds."""
    key = (id(metric), labels)
    found = _CHILDREN.get(key)
    if found is None:
        if len(_CHILDREN) >= _CHILDREN_MAX:
            _CHILDREN.clear()
        found = _CHILDREN[key] = metric.labels(*labels)
    return found  # type: ignore[return-value]


def count_pick(provider: str, replica: str, reason: str) -> None:
    PICKER_DECISIONS.labels(provider, replica, reason).inc()


def declare_providers(names: Iterable[str]) -> None:
    """Every configured provider's breaker series starts at 0 (closed) until the router
    reports otherwise."""
    for name in names:
        CIRCUIT_STATE.labels(name).set(0)
