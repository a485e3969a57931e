"""The breaker's state machine on a clock the test moves."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from gateway.routing.breaker import Breaker, BreakerBoard, CallOutcome, State, outcome_of
from gateway.routing.policy import BreakerPolicy
from gateway.routing.window import RollingCount
from providers.base import ErrorKind
from tests.conftest import unique

POLICY = BreakerPolicy(failure_rate=0.5, min_requests=4, window_seconds=10, cooldown_seconds=5,
                       half_open_probes=2)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def record(breaker: Breaker, outcome: CallOutcome, now: float) -> None:
    probe, _ = breaker.admit(now)
    assert probe is False
    breaker.record(False, breaker.gen, outcome, now)


def test_opens_at_the_failure_rate_once_min_requests_were_seen() -> None:
    breaker = Breaker("k", "p", "m", POLICY)
    for outcome in (CallOutcome.FAILURE, CallOutcome.FAILURE, CallOutcome.FAILURE):
        record(breaker, outcome, 0)
    assert breaker.state is State.CLOSED            # 3 < min_requests, though all failed
    record(breaker, CallOutcome.SUCCESS, 0)
    assert breaker.state is State.CLOSED            # 3 of 4 failed: the 4th was a success; evaluated on failure
    record(breaker, CallOutcome.FAILURE, 0)
    assert breaker.state is State.OPEN  # type: ignore[comparison-overlap]   # (mypy narrowed it above)


def test_stays_closed_under_the_failure_rate() -> None:
    breaker = Breaker("k", "p", "m", POLICY)
    for _ in range(20):
        record(breaker, CallOutcome.SUCCESS, 0)
        record(breaker, CallOutcome.SUCCESS, 0)
        record(breaker, CallOutcome.FAILURE, 0)
    assert breaker.state is State.CLOSED


def test_old_failures_leave_the_window() -> None:
    breaker = Breaker("k", "p", "m", POLICY)
    for _ in range(3):
        record(breaker, CallOutcome.FAILURE, 0)
    record(breaker, CallOutcome.FAILURE, POLICY.window_seconds + 1)
    assert breaker.state is State.CLOSED
    assert breaker.counts(POLICY.window_seconds + 1) == (1, 1)


def test_open_refuses_until_the_cooldown_then_admits_the_probes_only() -> None:
    breaker = Breaker("k", "p", "m", POLICY)
    for _ in range(4):
        record(breaker, CallOutcome.FAILURE, 0)
    assert breaker.admit(POLICY.cooldown_seconds - 0.01) == (None, None)
    probe, transition = breaker.admit(POLICY.cooldown_seconds)
    assert probe is True
    assert transition is not None and (transition.source, transition.target) == (State.OPEN, State.HALF_OPEN)
    assert breaker.admit(POLICY.cooldown_seconds)[0] is True
    assert breaker.admit(POLICY.cooldown_seconds)[0] is None      # half_open_probes = 2


def test_probes_succeeding_close_it_with_a_fresh_window() -> None:
    breaker = Breaker("k", "p", "m", POLICY)
    for _ in range(4):
        record(breaker, CallOutcome.FAILURE, 0)
    now = POLICY.cooldown_seconds
    breaker.admit(now)
    breaker.admit(now)
    gen = breaker.gen
    assert breaker.record(True, gen, CallOutcome.SUCCESS, now) is None
    transition = breaker.record(True, gen, CallOutcome.SUCCESS, now)
    assert transition is not None and transition.target is State.CLOSED
    assert breaker.counts(now) == (0, 0)


def test_a_failed_probe_opens_it_for_another_cooldown() -> None:
    breaker = Breaker("k", "p", "m", POLICY)
    for _ in range(4):
        record(breaker, CallOutcome.FAILURE, 0)
    now = POLICY.cooldown_seconds
    breaker.admit(now)
    transition = breaker.record(True, breaker.gen, CallOutcome.FAILURE, now)
    assert transition is not None and transition.target is State.OPEN
    assert transition.until == now + POLICY.cooldown_seconds
    assert breaker.admit(now + 1)[0] is None


def test_a_probe_that_never_reports_frees_its_slot_after_a_cooldown() -> None:
    breaker = Breaker("k", "p", "m", POLICY)
    for _ in range(4):
        record(breaker, CallOutcome.FAILURE, 0)
    now = POLICY.cooldown_seconds
    assert breaker.admit(now)[0] is True and breaker.admit(now)[0] is True
    assert breaker.admit(now + 1)[0] is None
    assert breaker.admit(now + POLICY.cooldown_seconds)[0] is True


def test_results_from_before_a_transition_are_ignored() -> None:
    breaker = Breaker("k", "p", "m", POLICY)
    admitted_gen = breaker.gen
    for _ in range(4):
        record(breaker, CallOutcome.FAILURE, 0)
    assert breaker.record(False, admitted_gen, CallOutcome.FAILURE, 0) is None
    assert breaker.record(True, admitted_gen, CallOutcome.SUCCESS, 0) is None
    assert breaker.state is State.OPEN


def test_neutral_outcomes_do_not_count() -> None:
    breaker = Breaker("k", "p", "m", POLICY)
    for _ in range(10):
        record(breaker, CallOutcome.NEUTRAL, 0)
    assert breaker.counts(0) == (0, 0)


@pytest.mark.parametrize(("kind", "outcome"), [
    (ErrorKind.SERVER, CallOutcome.FAILURE), (ErrorKind.TIMEOUT, CallOutcome.FAILURE), (ErrorKind.CONNECT, CallOutcome.FAILURE),
    (ErrorKind.RATE_LIMITED, CallOutcome.FAILURE), (ErrorKind.BAD_RESPONSE, CallOutcome.FAILURE),
    (ErrorKind.STREAM, CallOutcome.FAILURE), (ErrorKind.AUTH, CallOutcome.SUCCESS), (ErrorKind.BAD_REQUEST, CallOutcome.SUCCESS),
])
def test_which_upstream_errors_count_against_a_deployment(kind: ErrorKind, outcome: CallOutcome) -> None:
    assert outcome_of(kind) is outcome


async def test_the_board_refuses_at_once_shows_the_state_and_counts_transitions() -> None:
    clock = Clock()
    provider = unique("prov")
    board = BreakerBoard(POLICY, clock=clock)

    def gauge() -> float | None:
        return REGISTRY.get_sample_value("gateway_circuit_state", {"provider": provider})

    def moved(to: str) -> float:
        return REGISTRY.get_sample_value("gateway_circuit_transitions_total", {"provider": provider, "to": to}) or 0

    for _ in range(4):
        permit = await board.acquire(provider, "m")
        assert permit is not None
        permit.release(CallOutcome.FAILURE)
        permit.release(CallOutcome.SUCCESS)                # a second release is ignored
    assert await board.acquire(provider, "m") is None
    assert gauge() == 2 and moved("open") == 1
    assert board.retry_after(provider, "m") == POLICY.cooldown_seconds
    view = board.view(provider, "m")
    assert (view.state, view.calls, view.failures, view.error_rate) == (State.OPEN, 4, 4, 1.0)

    clock.now += POLICY.cooldown_seconds
    assert board.view(provider, "m").state is State.HALF_OPEN
    probes = [await board.acquire(provider, "m") for _ in range(2)]
    assert gauge() == 1 and moved("half_open") == 1
    for probe in probes:
        assert probe is not None and probe.probe
        probe.release(CallOutcome.SUCCESS)
    assert gauge() == 0 and moved("closed") == 1


async def test_the_gauge_shows_a_providers_worst_deployment() -> None:
    provider = unique("prov")
    board = BreakerBoard(POLICY, clock=Clock())
    board.breaker(provider, "healthy")
    for _ in range(4):
        permit = await board.acquire(provider, "sick")
        assert permit is not None
        permit.release(CallOutcome.FAILURE)
    assert REGISTRY.get_sample_value("gateway_circuit_state", {"provider": provider}) == 2
    assert await board.acquire(provider, "healthy") is not None


def test_deployments_of_different_upstream_addresses_have_different_breakers() -> None:
    a = BreakerBoard(POLICY, identities={"p": "p|openai|base_url=http://a"})
    b = BreakerBoard(POLICY, identities={"p": "p|openai|base_url=http://b"})
    assert a.breaker("p", "m").key != b.breaker("p", "m").key
    assert a.breaker("p", "m").key != a.breaker("p", "other").key


def test_rolling_count_forgets_whole_slices() -> None:
    count = RollingCount(10, slices=10)
    count.add(0.5)
    count.add(5.5, 2)
    assert count.total(9.9) == 3
    assert count.total(10.5) == 2        # the slice [0, 1) has left the window
    assert count.total(16) == 0
