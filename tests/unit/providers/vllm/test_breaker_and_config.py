"""The replica breaker's states, and the pool's options as gateway.yaml gives them."""

from __future__ import annotations

import pytest

from providers.base import ErrorKind
from providers.vllm.breaker import ReplicaBreaker, State, counts_against_replica
from providers.vllm.config import parse_options


def test_a_failure_opens_for_the_cooldown_then_one_trial_goes() -> None:
    breaker = ReplicaBreaker(cooldown=2.0)
    assert breaker.allows(0.0) and breaker.state(0.0) is State.CLOSED
    breaker.failure(10.0)
    assert not breaker.allows(11.0) and breaker.state(11.0) is State.OPEN
    assert breaker.retry_after(11.0) == pytest.approx(1.0)
    assert breaker.allows(12.0) and breaker.state(12.0) is State.HALF_OPEN
    breaker.begin(12.0)
    assert not breaker.allows(12.1)            # the trial is under way: nothing else goes
    breaker.failure(12.5)
    assert not breaker.allows(14.0) and breaker.allows(14.5)
    breaker.begin(14.5)
    breaker.success()
    assert breaker.state(14.6) is State.CLOSED and breaker.allows(14.6)


def test_an_abandoned_trial_may_be_tried_again() -> None:
    breaker = ReplicaBreaker(cooldown=1.0)
    breaker.failure(0.0)
    breaker.begin(1.0)
    breaker.abandoned()
    assert breaker.allows(1.0)


@pytest.mark.parametrize(("kind", "counts"), [
    (ErrorKind.CONNECT, True), (ErrorKind.SERVER, True), (ErrorKind.RATE_LIMITED, True),
    (ErrorKind.TIMEOUT, True), (ErrorKind.BAD_REQUEST, False), (ErrorKind.AUTH, False),
])
def test_client_errors_do_not_count_against_a_replica(kind: ErrorKind, counts: bool) -> None:
    assert counts_against_replica(kind) is counts


def test_defaults_are_load_aware_with_llm_d_weights_and_thresholds() -> None:
    pool = parse_options("pool", {"endpoints": ["http://a:8000"], "api_key": "k"})
    assert pool.picker == "load-aware"
    assert (pool.weights.queue, pool.weights.kv_cache, pool.weights.prefix) == (2, 2, 3)
    assert (pool.saturation.queue_depth, pool.saturation.kv_cache, pool.saturation.policy) == (5, 0.8, "queue")
    assert (pool.scrape.interval_seconds, pool.scrape.stale_seconds) == (0.05, 0.2)


def test_discovery_options() -> None:
    pool = parse_options("pool", {"discovery": {"dns": "vllm.svc", "port": 8000, "refresh_seconds": 2}})
    assert pool.discovery is not None and pool.discovery.refresh_seconds == 2


@pytest.mark.parametrize(("options", "message"), [
    ({}, "providers.pool: give either `endpoints`"),
    ({"endpoints": ["http://a"], "discovery": {"dns": "x", "port": 1}}, "give either"),
    ({"endpoints": []}, "non-empty"),
    ({"endpoints": ["a:8000"]}, "not an http"),
    ({"endpoints": ["http://a"], "picker": "random"}, "providers.pool.picker: Input should be 'load-aware'"),
    ({"endpoints": ["http://a"], "weights": {"queue": -1}}, "providers.pool.weights.queue"),
    ({"endpoints": ["http://a"], "weights": {"latency": 1}}, "providers.pool.weights.latency: Extra inputs"),
    ({"endpoints": ["http://a"], "saturation": {"policy": "drop"}}, "providers.pool.saturation.policy"),
    ({"endpoints": ["http://a"], "scrape": {"interval_seconds": 1, "stale_seconds": 0.5}}, "stale_seconds must"),
    ({"discovery": {"dns": "x", "port": 70000}}, "providers.pool.discovery.port"),
])
def test_bad_options_name_the_key(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("(", r"\(")):
        parse_options("pool", options)
