"""The in-process store: the embedded default, and each process's own limiter while Redis
is unreachable (fail_open). The same semantics as the Lua scripts in redis.py, step for
step; it is atomic because nothing in `reserve` or `settle` awaits."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from gateway.limits.base import Limiter, QuotaRequest, Reservation
from gateway.limits.plan import (
    COUNTER_GRACE_MS,
    RECORD_TTL_MS,
    Check,
    CheckState,
    Handle,
    Kind,
    Plan,
    adjustments,
    conclude,
    make_plan,
    to_ms,
)


@dataclass(slots=True)
class _Log:
    """A sliding window: entries oldest first, their amounts, and the running total."""

    entries: deque[tuple[int, str]] = field(default_factory=deque)
    amounts: dict[str, int] = field(default_factory=dict)
    total: int = 0

    def trim(self, cutoff_ms: int) -> None:
        while self.entries and self.entries[0][0] <= cutoff_ms:
            _, member = self.entries.popleft()
            self.total -= self.amounts.pop(member, 0)

    def oldest_ms(self) -> int | None:
        return self.entries[0][0] if self.entries else None

    def freed_at(self, need: int) -> int:
        """The timestamp of the entry whose leaving frees `need` (oldest entries leave first)."""
        freed = 0
        for ts, member in self.entries:
            freed += self.amounts.get(member, 0)
            if freed >= need:
                return ts
        raise AssertionError("a window holds more than it frees")  # unreachable: total >= need


@dataclass(slots=True)
class _Counter:
    value: int
    expires_ms: int


class MemoryLimiter(Limiter):
    def __init__(self, window_seconds: float = 60.0, clock: Callable[[], float] = time.time) -> None:
        self._window_ms = to_ms(window_seconds)
        self._clock = clock
        self._logs: dict[str, _Log] = {}
        self._counters: dict[str, _Counter] = {}
        self._open: dict[str, int] = {}          # reservation id -> when it is forgotten
        self._next_sweep_ms = 0

    async def reserve(self, request: QuotaRequest) -> Reservation:
        now = to_ms(self._clock())
        plan = make_plan(request, now)
        if not plan.checks:
            return Reservation(request=request)
        self._sweep(now)
        used = [self._used(check, now) for check in plan.checks]
        admitted = all(u + c.amount <= c.limit for u, c in zip(used, plan.checks, strict=True))
        if admitted:
            for check in plan.checks:
                self._take(check, plan.id, now)
            self._open[plan.id] = now + RECORD_TTL_MS
            used = [u + c.amount for u, c in zip(used, plan.checks, strict=True)]
        states = [self._state(check, u, now, admitted) for check, u in zip(plan.checks, used, strict=True)]
        requests, tokens = conclude(plan, states, admitted)
        return Reservation(request=request, requests=requests, tokens=tokens, handle=Handle(plan, "memory"))

    async def settle(self, reservation: Reservation, tokens: int, usd: Decimal) -> None:
        handle = reservation.handle
        reservation.settled = True
        if not isinstance(handle, Handle):
            return
        self._settle(handle.plan, tokens, usd)

    def _settle(self, plan: Plan, tokens: int, usd: Decimal) -> None:
        now = to_ms(self._clock())
        expires = self._open.pop(plan.id, None)
        if expires is None or expires <= now:
            return                                  # settled before, or forgotten
        for check, delta in adjustments(plan, tokens, usd):
            if check.kind is Kind.SUM:
                log = self._logs.get(check.key)
                if log is not None and plan.id in log.amounts:   # still inside the window
                    log.amounts[plan.id] += delta
                    log.total += delta
            elif check.kind is Kind.COUNTER:
                counter = self._counters.get(check.key)
                if counter is not None and counter.expires_ms > now:
                    counter.value += delta

    # -- the steps of one check ------------------------------------------------------

    def _used(self, check: Check, now: int) -> int:
        if check.kind is Kind.COUNTER:
            counter = self._counters.get(check.key)
            return counter.value if counter is not None and counter.expires_ms > now else 0
        log = self._logs.get(check.key)
        if log is None:
            return 0
        log.trim(now - self._window_ms)
        return log.total

    def _take(self, check: Check, member: str, now: int) -> None:
        if check.kind is Kind.COUNTER:
            counter = self._counters.get(check.key)
            if counter is None or counter.expires_ms <= now:
                counter = self._counters[check.key] = _Counter(0, 0)
            counter.value += check.amount
            counter.expires_ms = now + max(0, check.period_end_ms - now) + COUNTER_GRACE_MS
            return
        log = self._logs.setdefault(check.key, _Log())
        if member not in log.amounts:
            log.entries.append((now, member))
            log.amounts[member] = check.amount
            log.total += check.amount

    def _state(self, check: Check, used: int, now: int, admitted: bool) -> CheckState:
        if check.kind is Kind.COUNTER:
            reset = max(0, check.period_end_ms - now)
            fits = admitted or used + check.amount <= check.limit
            return CheckState(used, reset, None if fits else reset)
        log = self._logs.get(check.key)
        oldest = log.oldest_ms() if log is not None else None
        reset = oldest + self._window_ms - now if oldest is not None else self._window_ms
        if admitted or used + check.amount <= check.limit:
            return CheckState(used, reset)
        if check.amount > check.limit or log is None:
            return CheckState(used, reset, self._window_ms)
        return CheckState(used, reset, log.freed_at(used + check.amount - check.limit) + self._window_ms - now)

    def _sweep(self, now: int) -> None:
        """Forgets idle windows, past periods and stale reservations (Redis's TTLs)."""
        if now < self._next_sweep_ms:
            return
        self._next_sweep_ms = now + self._window_ms
        cutoff = now - self._window_ms
        for key in [k for k, log in self._logs.items() if not log.entries or log.entries[-1][0] <= cutoff]:
            del self._logs[key]
        for key in [k for k, c in self._counters.items() if c.expires_ms <= now]:
            del self._counters[key]
        for rid in [r for r, expires in self._open.items() if expires <= now]:
            del self._open[rid]
