"""After scripted traffic, /metrics holds exactly what happened: every counter's value and
every histogram's count, with DESIGN.md's names, labels and buckets."""

from __future__ import annotations

import pytest

from gateway.telemetry.metrics import LATENCY_BUCKETS, OVERHEAD_BUCKETS
from tests.fakes.openai_upstream import FakeOpenAI
from tests.integration.telemetry.scrape import Samples, scrape
from tests.integration.telemetry.traffic import (
    FAKE_PROMPT_TOKENS,
    MODEL,
    PRICE_INPUT,
    PRICE_OUTPUT,
    PROMPTS,
    chat,
    echoed_words,
    scripted_traffic,
)
from tests.support.gateway import RunningGateway

DESIGN_LABELS = {
    "gateway_requests_total": {"tenant", "model", "provider", "status"},
    "gateway_request_duration_seconds_count": {"provider", "model"},
    "gateway_overhead_seconds_count": set(),
    "gateway_time_to_first_token_seconds_count": {"provider", "model"},
    "gateway_tokens_total": {"tenant", "model", "kind"},
    "gateway_cost_usd_total": {"tenant", "model"},
    "gateway_cache_requests_total": {"result", "match"},
    "gateway_guardrail_events_total": {"tenant", "type"},
    "gateway_ratelimit_rejections_total": {"tenant", "limit"},
    "gateway_upstream_errors_total": {"provider", "kind"},
    "gateway_fallbacks_total": {"from_provider", "to_provider"},
    "gateway_circuit_state": {"provider"},
    "gateway_usage_outbox_pending": set(),
}


def test_every_counter_and_histogram_counts_the_scripted_traffic(
        gateway: RunningGateway, upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    primary, _ = upstreams
    pro, free = gateway.create_tenant(tier="pro"), gateway.create_tenant(tier="free")
    before = scrape(gateway.url)
    traffic = scripted_traffic(gateway.url, gateway.create_key(pro), gateway.create_key(free), primary)
    after = scrape(gateway.url)

    def requests(tenant: str, provider: str, status: str) -> float:
        return after.value("gateway_requests_total", tenant=tenant, model=MODEL, provider=provider, status=status)

    assert requests(pro, "primary", "200") == 3           # first, redacted, stream
    assert requests(pro, "cache", "200") == 1
    assert requests(pro, "secondary", "200") == 1         # the fallback
    assert requests(free, "primary", "200") == 1
    assert requests(free, "cache", "200") == 1
    assert requests(free, "none", "429") == 1
    assert after.total("gateway_requests_total", tenant=pro) == 5
    assert after.total("gateway_requests_total", tenant=free) == 3

    def count_delta(name: str, **labels: str) -> float:
        return after.delta(before, name + "_count", **labels)

    duration = "gateway_request_duration_seconds"
    assert count_delta(duration, provider="primary", model=MODEL) == 4
    assert count_delta(duration, provider="secondary", model=MODEL) == 1
    assert count_delta(duration, provider="cache", model=MODEL) == 2
    assert count_delta(duration, provider="none", model=MODEL) == 1
    assert count_delta("gateway_overhead_seconds") == 8
    assert count_delta("gateway_time_to_first_token_seconds", provider="primary", model=MODEL) == 1
    assert count_delta("gateway_time_to_first_token_seconds", provider="secondary", model=MODEL) == 0

    pro_prompt, pro_completion = 4 * FAKE_PROMPT_TOKENS, traffic.pro_completion_tokens
    assert after.value("gateway_tokens_total", tenant=pro, model=MODEL, kind="prompt") == pro_prompt
    assert after.value("gateway_tokens_total", tenant=pro, model=MODEL, kind="completion") == pro_completion
    assert after.value("gateway_tokens_total", tenant=free, model=MODEL, kind="prompt") == FAKE_PROMPT_TOKENS
    assert after.value("gateway_tokens_total", tenant=free, model=MODEL,
                       kind="completion") == echoed_words(PROMPTS["free"])
    expected_cost = (pro_prompt * PRICE_INPUT + pro_completion * PRICE_OUTPUT) / 1e6
    assert after.value("gateway_cost_usd_total", tenant=pro, model=MODEL) == pytest.approx(expected_cost, rel=1e-9)

    assert after.total_delta(before, "gateway_cache_requests_total", result="miss") == 5
    assert after.total_delta(before, "gateway_cache_requests_total", result="hit") == 2
    assert after.total_delta(before, "gateway_cache_requests_total", result="bypass") == 0
    assert after.value("gateway_guardrail_events_total", tenant=pro, type="email") == 1
    assert after.total("gateway_guardrail_events_total", tenant=free) == 0
    assert after.value("gateway_ratelimit_rejections_total", tenant=free, limit=traffic.limit) == 1
    assert after.total("gateway_ratelimit_rejections_total", tenant=pro) == 0
    assert traffic.primary_failures >= 1
    assert after.delta(before, "gateway_upstream_errors_total", provider="primary",
                       kind="server") == traffic.primary_failures
    assert after.delta(before, "gateway_fallbacks_total", from_provider="primary", to_provider="secondary") == 1
    assert after.value("gateway_circuit_state", provider="secondary") == 0


def test_every_design_metric_is_exported_with_its_labels_and_buckets(gateway: RunningGateway) -> None:
    key = gateway.create_key()
    assert chat(gateway.url, key, "hello", stream=True).status_code == 200
    samples = scrape(gateway.url)
    for name, labels in DESIGN_LABELS.items():
        series = [ls for (n, ls) in samples.values if n == name]
        assert series, f"{name} has no series"
        for label_set in series:
            assert {k for k, _ in label_set} == labels, (name, label_set)
    assert samples.families["gateway_circuit_transitions"] == "counter"   # the parser drops _total
    assert _bounds(samples, "gateway_request_duration_seconds_bucket") == [*LATENCY_BUCKETS, float("inf")]
    assert _bounds(samples, "gateway_time_to_first_token_seconds_bucket") == [*LATENCY_BUCKETS, float("inf")]
    assert _bounds(samples, "gateway_overhead_seconds_bucket") == [*OVERHEAD_BUCKETS, float("inf")]
    assert LATENCY_BUCKETS[0] == 0.01 and LATENCY_BUCKETS[-1] == 120
    assert OVERHEAD_BUCKETS[0] == 0.0001 and OVERHEAD_BUCKETS[-1] == 0.1


def test_label_values_stay_bounded(gateway: RunningGateway) -> None:
    """A made-up model name, a request id or a prompt never becomes a label value."""
    key = gateway.create_key()
    made_up = "made-up-model-7f3a9c"
    request_id = "req-label-probe-5b1e"
    response = chat(gateway.url, key, "label probe prompt 91c2", headers={"x-request-id": request_id},
                    model=made_up)
    assert response.status_code == 404
    text = scrape(gateway.url).text
    for value in (made_up, request_id, "label probe prompt 91c2", key):
        assert value not in text
    assert 'model="unknown"' in text


def _bounds(samples: Samples, name: str) -> list[float]:
    return sorted({float(dict(ls)["le"]) for (n, ls) in samples.values if n == name})
