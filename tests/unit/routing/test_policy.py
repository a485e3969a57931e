"""gateway.yaml `routing:` -- defaults, overrides, and unknown keys named with their line."""

from __future__ import annotations

import pytest

from gateway.catalog import CatalogError, parse_catalog

BASE = """providers: {m: {type: mock}}
models: {x: {price: {input: 0, output: 0}, deployments: [{provider: m, upstream: e}]}}
"""


def test_defaults_without_a_routing_section() -> None:
    routing = parse_catalog(BASE).routing
    assert routing.breaker.failure_rate == 0.5 and routing.breaker.min_requests == 20
    assert routing.retry.budget_ratio == 0.2 and routing.retry.max_retry_after_seconds == 2.0


def test_overrides() -> None:
    routing = parse_catalog(BASE + """routing:
  breaker: {cooldown_seconds: 5, half_open_probes: 1}
  retry: {budget_ratio: 0.1, backoff_seconds: 0.05}
""").routing
    assert (routing.breaker.cooldown_seconds, routing.breaker.half_open_probes) == (5, 1)
    assert (routing.retry.budget_ratio, routing.retry.backoff_seconds) == (0.1, 0.05)


@pytest.mark.parametrize(("text", "said"), [
    ("routing:\n  breaker:\n    failure_rat: 0.5\n", ":5: routing.breaker.failure_rat: unknown key"),
    ("routing:\n  retries: {}\n", ":4: routing.retries: unknown key"),
    ("routing:\n  retry: {budget_ratio: 2}\n", ":4: routing.retry.budget_ratio:"),
    ("routing:\n  breaker: {min_requests: 0}\n", ":4: routing.breaker.min_requests:"),
])
def test_mistakes_are_named_with_file_and_line(text: str, said: str) -> None:
    with pytest.raises(CatalogError) as raised:
        parse_catalog(BASE + text)
    assert said in str(raised.value)
