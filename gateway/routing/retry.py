"""Retrying a failed call on the same deployment: which failures, after how long, and how
many in all. The budget keeps retries to a fraction of first attempts over a rolling
window, so that when a whole provider fails the gateway adds at most that fraction to the
load instead of multiplying it."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from gateway.routing.policy import RetryPolicy
from gateway.routing.window import RollingCount
from providers.base import ErrorKind, ProviderError

# A timeout already spent the time budget of one call: the next deployment gets the rest.
_RETRIED_IN_PLACE = frozenset({ErrorKind.CONNECT, ErrorKind.SERVER, ErrorKind.RATE_LIMITED})


class RetryBudget:
    def __init__(self, policy: RetryPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._first = RollingCount(policy.budget_window_seconds)
        self._retries = RollingCount(policy.budget_window_seconds)

    def note_first_attempt(self) -> None:
        self._first.add(self._clock())

    def try_spend(self) -> bool:
        """Takes one retry from the budget; False when the budget is spent."""
        now = self._clock()
        allowed = self.policy.budget_ratio * self._first.total(now) + self.policy.min_retries
        if self._retries.total(now) + 1 > allowed + 1e-9:
            return False
        self._retries.add(now)
        return True


def retry_delay(policy: RetryPolicy, error: ProviderError,
                rng: Callable[[], float] = random.random) -> float | None:
    """Seconds to wait before retrying the same deployment, or None to move on at once.

    An upstream's Retry-After is honoured (plus up to 10% jitter so that callers it turned
    away together do not return together); one longer than `max_retry_after_seconds` means
    the deployment is no use to this request, so the chain moves on.
    """
    if error.kind not in _RETRIED_IN_PLACE:
        return None
    if error.retry_after:
        if error.retry_after > policy.max_retry_after_seconds:
            return None
        return error.retry_after * (1 + 0.1 * rng())
    return min(policy.max_backoff_seconds, policy.backoff_seconds * (0.5 + rng()))
