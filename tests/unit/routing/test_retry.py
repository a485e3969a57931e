"""The retry budget and the wait before a retry."""

from __future__ import annotations

import pytest

from gateway.routing.policy import RetryPolicy
from gateway.routing.retry import RetryBudget, retry_delay
from providers.base import ErrorKind, ProviderError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_retries_stay_within_the_ratio_of_first_attempts() -> None:
    budget = RetryBudget(RetryPolicy(budget_ratio=0.2, budget_window_seconds=10), clock=Clock())
    assert not budget.try_spend()                 # no first attempts: no budget
    for _ in range(4):
        budget.note_first_attempt()
    assert not budget.try_spend()                 # 1 > 0.2 * 4
    budget.note_first_attempt()
    assert budget.try_spend()                     # 1 <= 0.2 * 5
    assert not budget.try_spend()
    granted = 1
    for _ in range(95):
        budget.note_first_attempt()
        granted += budget.try_spend()
    assert granted == 20                          # 20% of 100


def test_min_retries_is_a_floor() -> None:
    budget = RetryBudget(RetryPolicy(budget_ratio=0.0, min_retries=2), clock=Clock())
    assert [budget.try_spend() for _ in range(3)] == [True, True, False]


def test_the_budget_refills_as_the_window_rolls() -> None:
    clock = Clock()
    budget = RetryBudget(RetryPolicy(budget_ratio=0.2, budget_window_seconds=10), clock=clock)
    for _ in range(5):
        budget.note_first_attempt()
    assert budget.try_spend() and not budget.try_spend()
    clock.now += 11
    assert not budget.try_spend()                 # the old first attempts left too
    for _ in range(5):
        budget.note_first_attempt()
    assert budget.try_spend()


def error(kind: ErrorKind, retry_after: float | None = None) -> ProviderError:
    return ProviderError(kind, "x", retry_after=retry_after)


POLICY = RetryPolicy(backoff_seconds=0.1, max_backoff_seconds=1.0, max_retry_after_seconds=2.0)


@pytest.mark.parametrize("kind", [ErrorKind.SERVER, ErrorKind.CONNECT, ErrorKind.RATE_LIMITED])
def test_backoff_is_jittered_around_the_base(kind: ErrorKind) -> None:
    assert retry_delay(POLICY, error(kind), rng=lambda: 0.0) == pytest.approx(0.05)
    assert retry_delay(POLICY, error(kind), rng=lambda: 0.999) == pytest.approx(0.1499, abs=1e-3)


@pytest.mark.parametrize("kind", [ErrorKind.TIMEOUT, ErrorKind.BAD_REQUEST, ErrorKind.AUTH,
                                  ErrorKind.BAD_RESPONSE, ErrorKind.STREAM])
def test_these_are_not_retried_in_place(kind: ErrorKind) -> None:
    assert retry_delay(POLICY, error(kind)) is None


def test_retry_after_is_honoured_up_to_its_bound() -> None:
    assert retry_delay(POLICY, error(ErrorKind.RATE_LIMITED, 1.5), rng=lambda: 0.0) == 1.5
    assert retry_delay(POLICY, error(ErrorKind.RATE_LIMITED, 1.5), rng=lambda: 1.0) == pytest.approx(1.65)
    assert retry_delay(POLICY, error(ErrorKind.RATE_LIMITED, 2.5)) is None     # longer: fall back now
    assert retry_delay(POLICY, error(ErrorKind.SERVER, 0.0), rng=lambda: 0.5) == pytest.approx(0.1)


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(backoff_seconds=5, max_backoff_seconds=1)
    assert retry_delay(policy, error(ErrorKind.SERVER), rng=lambda: 0.9) == 1.0
