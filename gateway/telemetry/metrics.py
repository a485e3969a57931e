"""Prometheus metrics (names and labels are a contract: DESIGN.md). Label values are
bounded: tenant, model, provider names from the catalog and tenants table, never request
ids or user text."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
CACHE = Counter("gateway_cache_requests_total", "Cache lookups by result.", ["result"])
GUARDRAIL_EVENTS = Counter("gateway_guardrail_events_total", "PII findings.", ["tenant", "type"])
RATELIMIT_REJECTIONS = Counter("gateway_ratelimit_rejections_total", "429s by limit.", ["tenant", "limit"])
UPSTREAM_ERRORS = Counter("gateway_upstream_errors_total", "Failed upstream attempts.", ["provider", "kind"])
FALLBACKS = Counter("gateway_fallbacks_total", "Moves to the next deployment.", ["from_provider", "to_provider"])
CIRCUIT_STATE = Gauge("gateway_circuit_state", "0 closed, 1 half-open, 2 open.", ["provider"],
                      multiprocess_mode="max")
OUTBOX_PENDING = Gauge("gateway_usage_outbox_pending", "Usage records not yet in the database.",
                       multiprocess_mode="max")
