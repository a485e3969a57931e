"""A breaker per replica: a replica that refuses connections, times out or answers 429/5xx is
skipped for a cooldown, then given one trial request; the trial's success closes it again.
Client errors (other 4xx) say nothing about the replica and do not count."""

from __future__ import annotations

import enum

from providers.base import ErrorKind

_COUNTED = frozenset({ErrorKind.CONNECT, ErrorKind.TIMEOUT, ErrorKind.RATE_LIMITED, ErrorKind.SERVER})


def counts_against_replica(kind: ErrorKind) -> bool:
    return kind in _COUNTED


class State(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"     # cooled down: one trial request may go


class ReplicaBreaker:
    __slots__ = ("_open_until", "_trial", "cooldown", "failures", "opened")

    def __init__(self, cooldown: float) -> None:
        self.cooldown = cooldown
        self.opened = False
        self._open_until = 0.0
        self._trial = False         # the half-open trial is under way
        self.failures = 0           # in a row

    def state(self, now: float) -> State:
        if not self.opened:
            return State.CLOSED
        return State.OPEN if now < self._open_until or self._trial else State.HALF_OPEN

    def allows(self, now: float) -> bool:
        return not self.opened or (now >= self._open_until and not self._trial)

    def retry_after(self, now: float) -> float:
        return max(0.0, self._open_until - now) if self.opened else 0.0

    def begin(self, now: float) -> None:
        """A request goes to the replica (allowed by `allows`)."""
        if self.opened:
            self._trial = True

    def success(self) -> None:
        self.opened = False
        self._trial = False
        self.failures = 0

    def failure(self, now: float) -> None:
        self.opened = True
        self._trial = False
        self.failures += 1
        self._open_until = now + self.cooldown

    def abandoned(self) -> None:
        """The request ended without a verdict (the client left): the trial may be retried."""
        self._trial = False
