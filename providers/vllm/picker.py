"""Which replica a request goes to: round-robin, or load-aware scoring.

Load-aware scores each replica whose figures are fresh on three scorers in [0, 1] and sums
them with the configured weights (default queue 2, KV cache 2, prefix 3):
- queue:  (max_q - q) / (max_q - min_q) over the unsaturated candidates (1 when all equal),
          q = the replica's waiting requests plus those this gateway sent since the scrape;
- kv:     1 - KV cache usage;
- prefix: the fraction of the prompt's leading blocks last sent to that replica.
A replica at `saturation.queue_depth` or `saturation.kv_cache` is saturated and not a
candidate. A replica whose figures are stale or that cannot be scraped is *unknown*: it is
ranked after every scored one (by prefix affinity), never taken for idle. Ties break at random.
An empty ranking with a saturated replica in the pool means the pool is saturated.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
    order: list[Replica]      # to try, best first
    reason: str               # why the first
    saturated: bool = False   # nothing to try because every replica is saturated


class Picker(Protocol):
    def pick(self, replicas: Sequence[Replica], matches: dict[str, int], blocks: int, now: float) -> Pick: ...


class RoundRobinPicker:
    def __init__(self) -> None:
        self._next = 0

    def pick(self, replicas: Sequence[Replica], matches: dict[str, int], blocks: int, now: float) -> Pick:
        live = [r for r in replicas if r.breaker.allows(now)]
        if not live:
            return Pick([], NO_REPLICA)
        start = self._next % len(live)
        self._next += 1
        return Pick(live[start:] + live[:start], ROUND_ROBIN)


class LoadAwarePicker:
    def __init__(self, weights: Weights, saturation: Saturation, stale_seconds: float,
                 rng: Callable[[], float] = random.random) -> None:
        self.weights = weights
        self.saturation = saturation
        self.stale = stale_seconds
        self._rng = rng

    def pick(self, replicas: Sequence[Replica], matches: dict[str, int], blocks: int, now: float) -> Pick:
        max_queue = self.saturation.queue_depth
        max_kv = self.saturation.kv_cache
        oldest = now - self.stale
        fresh: list[tuple[Replica, float, float]] = []
        unknown: list[Replica] = []
        saturated = 0
        q_min = q_max = 0.0
        for replica in replicas:
            if not replica.breaker.allows(now):
                continue
            figures = replica.figures
            if figures is None or figures.at < oldest:
                replica.score = None
                unknown.append(replica)
                continue
            queue = figures.waiting + replica.sent_since_scrape
            kv = figures.kv_cache
            if queue >= max_queue or kv >= max_kv:
                replica.score = 0.0
                saturated += 1
                continue
            if not fresh:
                q_min = q_max = queue
            elif queue < q_min:
                q_min = queue
            elif queue > q_max:
                q_max = queue
            fresh.append((replica, queue, kv))
        w_queue, w_kv, w_prefix = self.weights.queue, self.weights.kv_cache, self.weights.prefix
        span = q_max - q_min
        rng = self._rng
        scored: list[tuple[float, float, float, Replica]] = []
        for replica, queue, kv in fresh:
            queue_score = (q_max - queue) / span if span > 0 else 1.0
            prefix_score = matches.get(replica.key, 0) / blocks if blocks else 0.0
            score = w_queue * queue_score + w_kv * (1.0 - kv) + w_prefix * prefix_score
            replica.score = score
            scored.append((score, rng(), prefix_score, replica))
        if scored:
            scored.sort(key=_rank, reverse=True)
            best = scored[0]
            order = [entry[3] for entry in scored]
            reason = PREFIX if best[2] > 0 and w_prefix > 0 else LOAD
        else:
            order, reason = [], UNKNOWN
        if unknown:
            if len(unknown) > 1:
                unknown.sort(key=lambda r: (matches.get(r.key, 0), rng()), reverse=True)
            order.extend(unknown)
        if not order:
            return Pick([], NO_REPLICA, saturated=saturated > 0)
        return Pick(order, reason)


def _rank(entry: tuple[float, float, float, Replica]) -> tuple[float, float]:
    return entry[0], entry[1]
