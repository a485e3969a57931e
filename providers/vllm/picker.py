"""Which replica a request goes to: round-robin, or load-aware scoring.

Load-aware scores each replica whose figures are fresh on three scorers in [0, 1] and sums
them with the configured weights (default queue 2, KV cache 2, prefix 3):
- queue:  (max_q - q) / (max_q - min_q) over the unsaturated candidates as of the last scrape
          round (1 when all were equal; then 1 / (1 + q - min_q)), q = the replica's waiting
          requests plus those this gateway sent it since its scrape;
- kv:     1 - KV cache usage;
- prefix: the fraction of the prompt's leading blocks last sent to that replica.
A replica at `saturation.queue_depth` or `saturation.kv_cache` is saturated and not a
candidate (only a last resort, after the others failed before their first byte). A replica
whose figures are stale or that cannot be scraped is *unknown*: it is ranked after every
scored one (by prefix affinity), never taken for idle. Ties break at random. An empty
ranking with a saturated replica in the pool means the pool is saturated.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from providers.vllm.config import Saturation, Weights
from providers.vllm.replica import Replica

# Reasons (a bounded label of gateway_picker_decisions_total).
LOAD = "load"                 # best score, no prefix affinity
PREFIX = "prefix"             # best score, with prefix affinity
UNKNOWN = "unknown"           # no replica with fresh figures had room; one without figures
ROUND_ROBIN = "round_robin"
FALLBACK = "fallback"         # the one before refused or failed before its first byte
QUEUED = "queued"             # placed after waiting in the gateway for room
REJECTED = "rejected"         # every replica saturated: not placed (replica label "none")
NO_REPLICA = "no_replica"     # no replica to try at all (none discovered, all breakers open)


@dataclass(slots=True)
class Pick:
    order: list[Replica]      # to try, best first (the best few, then the unknown ones)
    reason: str               # why the first
    saturated: bool = False   # nothing to try because every replica is saturated
    matches: dict[str, int] = field(default_factory=dict)   # replica -> the prompt's blocks it has


class Picker(Protocol):
    def pick(self, replicas: Sequence[Replica], matches: dict[str, int], blocks: int, now: float) -> Pick: ...

    def refresh(self, replicas: Sequence[Replica], now: float) -> object: ...


class RoundRobinPicker:
    def __init__(self) -> None:
        self._next = 0

    def refresh(self, replicas: Sequence[Replica], now: float) -> None:
        """Round-robin reads no figures."""

    def pick(self, replicas: Sequence[Replica], matches: dict[str, int], blocks: int, now: float) -> Pick:
        live = [r for r in replicas if r.breaker.allows(now)]
        if not live:
            return Pick([], NO_REPLICA)
        start = self._next % len(live)
        self._next += 1
        return Pick(live[start:] + live[:start], ROUND_ROBIN)


@dataclass(slots=True)
class _View:
    """The pool as of the last scrape round: fresh, unsaturated replicas by load score, best
    first. A pick re-scores only the few it looks at, so it costs the same for 4 replicas or 100."""

    replicas: Sequence[Replica]
    ranked: list[tuple[float, Replica]]
    by_key: dict[str, Replica]
    unknown: list[Replica]
    saturated: list[Replica]
    q_min: float
    q_max: float
    expires: float            # when the oldest fresh figures go stale: rebuilt by then


_LOOK_AT = 4                  # replicas taken from the top of the view per pick (>= MAX_ATTEMPTS)
_SPARES = 2                   # saturated replicas appended to a ranking as last resorts


class LoadAwarePicker:
    def __init__(self, weights: Weights, saturation: Saturation, stale_seconds: float,
                 rng: Callable[[], float] = random.random) -> None:
        self.weights = weights
        self.saturation = saturation
        self.stale = stale_seconds
        self._rng = rng
        self._view: _View | None = None

    def refresh(self, replicas: Sequence[Replica], now: float) -> _View:
        """Re-ranks the pool from the replicas' figures; called after every scrape round (off
        the request path), and by a pick that finds the view stale or the pool changed."""
        oldest = now - self.stale
        fresh: list[tuple[Replica, float]] = []
        unknown: list[Replica] = []
        saturated: list[Replica] = []
        expires = now + self.stale
        for replica in replicas:
            figures = replica.figures
            if figures is None or figures.at < oldest:
                replica.score = None
                unknown.append(replica)
                continue
            expires = min(expires, figures.at + self.stale)
            queue = figures.waiting + replica.sent_since_scrape
            if queue >= self.saturation.queue_depth or figures.kv_cache >= self.saturation.kv_cache:
                replica.score = 0.0
                saturated.append(replica)
                continue
            fresh.append((replica, queue))
        q_min = min((q for _, q in fresh), default=0.0)
        q_max = max((q for _, q in fresh), default=0.0)
        view = _View(replicas, [], {r.key: r for r in replicas}, unknown, saturated, q_min, q_max, expires)
        for replica, _ in fresh:
            load = self._load(replica, view, now)
            replica.score = load
            if load is not None and load >= 0:
                view.ranked.append((load, replica))
        view.ranked.sort(key=_first, reverse=True)
        self._view = view
        return view

    def _load(self, replica: Replica, view: _View, now: float) -> float | None:
        """Queue and KV scores, weighted, now: None when unknown, -1 when saturated."""
        figures = replica.figures
        if figures is None or figures.at < now - self.stale:
            return None
        queue = figures.waiting + replica.sent_since_scrape
        if queue >= self.saturation.queue_depth or figures.kv_cache >= self.saturation.kv_cache:
            return -1.0
        span = view.q_max - view.q_min
        if span > 0:
            queue_score = min(1.0, max(0.0, (view.q_max - queue) / span))
        else:                 # all equal at the scrape: 1, less for each request sent since
            queue_score = 1.0 / (1.0 + max(0.0, queue - view.q_min))
        return self.weights.queue * queue_score + self.weights.kv_cache * (1.0 - figures.kv_cache)

    def pick(self, replicas: Sequence[Replica], matches: dict[str, int], blocks: int, now: float) -> Pick:
        view = self._view
        if view is None or view.replicas is not replicas or now >= view.expires:
            view = self.refresh(replicas, now)
        rng = self._rng
        w_prefix = self.weights.prefix
        candidates: list[tuple[float, float, float, Replica]] = []
        unknown = [r for r in view.unknown if r.breaker.allows(now)]
        saturated: list[Replica] = []
        for key, depth in matches.items():            # replicas with the prompt's prefix
            replica = view.by_key.get(key)
            if replica is None or not replica.breaker.allows(now):
                continue
            load = self._load(replica, view, now)
            if load is None:
                continue                              # unknown: ranked with the unknown ones
            if load < 0:
                saturated.append(replica)
                continue
            prefix_score = depth / blocks if blocks else 0.0
            score = load + w_prefix * prefix_score
            replica.score = score
            candidates.append((score, rng(), prefix_score, replica))
        taken = 0
        for _, replica in view.ranked:                # the best by load, re-scored now
            if taken >= _LOOK_AT:
                break
            if replica.key in matches or not replica.breaker.allows(now):
                continue
            load = self._load(replica, view, now)
            if load is None:
                unknown.append(replica)
                continue
            if load < 0:
                saturated.append(replica)
                continue
            replica.score = load
            candidates.append((load, rng(), 0.0, replica))
            taken += 1
        if candidates:
            candidates.sort(key=_rank, reverse=True)
            order = [entry[3] for entry in candidates]
            reason = PREFIX if candidates[0][2] > 0 and w_prefix > 0 else LOAD
        else:
            order, reason = [], UNKNOWN
        if unknown:
            if len(unknown) > 1:
                unknown.sort(key=lambda r: (matches.get(r.key, 0), rng()), reverse=True)
            order.extend(unknown)
        if not order:
            full = bool(saturated) or any(r.breaker.allows(now) for r in view.saturated)
            return Pick([], NO_REPLICA, saturated=full)
        # Last resorts, for when the ones above fail before their first byte: a saturated
        # replica that is up beats an error.
        spare = _SPARES
        for replica in (*saturated, *view.saturated):
            if spare == 0:
                break
            if replica not in order and replica.breaker.allows(now):
                order.append(replica)
                spare -= 1
        return Pick(order, reason, matches=matches)


def _first(entry: tuple[float, Replica]) -> float:
    return entry[0]


def _rank(entry: tuple[float, float, float, Replica]) -> tuple[float, float]:
    return entry[0], entry[1]
