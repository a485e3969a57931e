"""Measured latency per deployment (EWMA of time to first token), for the `fastest` alias."""

from __future__ import annotations

_ALPHA = 0.2


class LatencyTracker:
    def __init__(self) -> None:
        self._ewma: dict[tuple[str, str], float] = {}

    def observe(self, model: str, provider: str, seconds: float) -> None:
        key = (model, provider)
        previous = self._ewma.get(key)
        self._ewma[key] = seconds if previous is None else previous + _ALPHA * (seconds - previous)

    def estimate(self, model: str, provider: str) -> float | None:
        return self._ewma.get((model, provider))

    def snapshot(self) -> dict[tuple[str, str], float]:
        return dict(self._ewma)
