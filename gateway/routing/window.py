"""A count over a rolling time window, kept in a few fixed slices so that adding and
summing cost O(slices) whatever the traffic."""

from __future__ import annotations


class RollingCount:
    def __init__(self, window_seconds: float, slices: int = 10) -> None:
        self.window = window_seconds
        self.width = window_seconds / slices
        self._slices = slices
        self._counts: dict[int, int] = {}

    def slice_of(self, now: float) -> int:
        """Slice numbers come from the wall clock, so replicas agree on them."""
        return int(now // self.width)

    def add(self, now: float, n: int = 1) -> None:
        current = self.slice_of(now)
        self._counts[current] = self._counts.get(current, 0) + n
        if len(self._counts) > self._slices:
            self._prune(current)

    def total(self, now: float) -> int:
        current = self.slice_of(now)
        self._prune(current)
        return sum(self._counts.values())

    def clear(self) -> None:
        self._counts.clear()

    def _prune(self, current: int) -> None:
        oldest = current - self._slices + 1
        for stale in [s for s in self._counts if s < oldest]:
            del self._counts[stale]
