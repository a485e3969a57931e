"""The semantic index: earlier requests' key texts and vectors, per tenant scope and
partition, each pointing at the exact-cache entry that holds its answer.

One interface, two implementations: `MemorySemanticIndex` (embedded mode, in process) and
`RedisSemanticIndex` (gateway/cache/semantic/redis_index.py, shared by every replica). Both
are bounded per scope (max entries, least recently used dropped first; entries expire with
the cache's TTL) and read a bounded number of entries per lookup whatever the scope holds:
the partition's most recent `RECENT` entries plus, per LSH band, the newest `BUCKET`
entries of the query's bucket (vectors.py)."""

from __future__ import annotations

import itertools
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.cache.keys import model_tag
from gateway.cache.semantic.vectors import Vector, pack, signatures, similarities_quantized, unpack

RECENT = 32      # a partition's newest entries, always compared
BUCKET = 16      # per LSH bucket, the newest kept


@dataclass(frozen=True, slots=True)
class Candidate:
    entry_id: str
    answer_key: str      # the exact-cache key of the stored answer
    text: str
    similarity: float


def entry_id(model: str, serial: str) -> str:
    """Ids lead with the model's tag, so that one model's entries can be cleared."""
    return f"{model_tag(model)}.{serial}"


class SemanticIndex(ABC):
    @abstractmethod
    async def nearest(self, scope: str, partition: str, vector: Vector, limit: int) -> list[Candidate]:
        """Up to `limit` entries of the partition, most similar first."""

    @abstractmethod
    async def add(self, scope: str, partition: str, model: str, vector: Vector, text: str,
                  answer_key: str, ttl_seconds: int) -> None: ...

    @abstractmethod
    async def touch(self, scope: str, entry: str) -> None:
        """A hit: the entry is the scope's most recently used."""

    @abstractmethod
    async def clear(self, scope: str, model: str | None = None) -> int:
        """Drops the scope's entries (of `model` only, when given); how many, where known."""

    async def close(self) -> None:
        """Releases what the index holds open."""


def rank(query: Vector, records: list[tuple[str, bytes]], limit: int) -> list[Candidate]:
    """The readable records, most similar first."""
    parsed = [(entry, unpacked) for entry, record in records if (unpacked := unpack(record)) is not None]
    scores = similarities_quantized(query, [u[0] for _, u in parsed])
    found = [Candidate(entry, u[1], u[2], score) for (entry, u), score in zip(parsed, scores, strict=True)]
    found.sort(key=lambda c: c.similarity, reverse=True)
    return found[:limit]


@dataclass
class _Scope:
    # id -> (expiry, partition, record), least recently used first
    entries: OrderedDict[str, tuple[float, str, bytes]] = field(default_factory=OrderedDict)
    buckets: dict[tuple[str, int, int], list[str]] = field(default_factory=dict)             # newest last
    recent: dict[str, list[str]] = field(default_factory=dict)


class MemorySemanticIndex(SemanticIndex):
    def __init__(self, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_entries = max_entries
        self._scopes: dict[str, _Scope] = {}
        self._serial = itertools.count()
        self._clock = clock

    async def nearest(self, scope: str, partition: str, vector: Vector, limit: int) -> list[Candidate]:
        state = self._scopes.get(scope)
        if state is None:
            return []
        ids = dict.fromkeys(reversed(state.recent.get(partition, [])))
        for band, signature in enumerate(signatures(vector)):
            ids.update(dict.fromkeys(reversed(state.buckets.get((partition, band, signature), []))))
        now = self._clock()
        records = []
        for entry in ids:
            found = state.entries.get(entry)
            if found is None:
                continue
            if found[0] <= now:
                del state.entries[entry]
                continue
            records.append((entry, found[2]))
        return rank(vector, records, limit)

    async def add(self, scope: str, partition: str, model: str, vector: Vector, text: str,
                  answer_key: str, ttl_seconds: int) -> None:
        state = self._scopes.setdefault(scope, _Scope())
        entry = entry_id(model, str(next(self._serial)))
        state.entries[entry] = (self._clock() + ttl_seconds, partition, pack(vector, answer_key, text))
        _push(state.recent.setdefault(partition, []), entry, RECENT)
        for band, signature in enumerate(signatures(vector)):
            _push(state.buckets.setdefault((partition, band, signature), []), entry, BUCKET)
        while len(state.entries) > self._max_entries:
            state.entries.popitem(last=False)
        if len(state.buckets) > 4 * self._max_entries:        # drop lists whose entries are gone
            self._compact(state)

    async def touch(self, scope: str, entry: str) -> None:
        state = self._scopes.get(scope)
        if state is not None and entry in state.entries:
            state.entries.move_to_end(entry)

    async def clear(self, scope: str, model: str | None = None) -> int:
        state = self._scopes.get(scope)
        if state is None:
            return 0
        if model is None:
            del self._scopes[scope]
            return len(state.entries)
        prefix = model_tag(model) + "."
        doomed = [e for e in state.entries if e.startswith(prefix)]
        for entry in doomed:
            del state.entries[entry]
        return len(doomed)

    @staticmethod
    def _compact(state: _Scope) -> None:
        for lists in (state.buckets, state.recent):
            for key in list(lists):
                alive = [e for e in lists[key] if e in state.entries]       # type: ignore[index]
                if alive:
                    lists[key] = alive                                      # type: ignore[index]
                else:
                    del lists[key]                                          # type: ignore[arg-type]


def _push(items: list[str], entry: str, cap: int) -> None:
    items.append(entry)
    if len(items) > cap:
        del items[: len(items) - cap]
