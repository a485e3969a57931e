"""The labelled prompt pairs (tests/data/semantic_pairs.tsv) run through a gateway: for each
pair, prompt a is asked (a miss, stored), then prompt b; b's answer says whether the cache
answered it and how similar it judged the two. Each pair gets a system prompt of its own,
so each is its own partition: no pair can hit another pair's entry.

Shared by the quality test (tests/e2e/test_semantic_quality.py) and the benchmark
(bench/semantic_cache.py)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

PAIRS_FILE = Path(__file__).resolve().parent.parent / "data" / "semantic_pairs.tsv"


@dataclass(frozen=True, slots=True)
class Pair:
    same: bool          # a paraphrase (a hit is right) or a hard negative (a hit is wrong)
    kind: str           # typo, politeness, order, words | entity, number, unit, negation, ...
    domain: str
    a: str
    b: str


@dataclass(frozen=True, slots=True)
class Outcome:
    pair: Pair
    hit: bool
    similarity: float | None


def load_pairs(path: Path = PAIRS_FILE) -> list[Pair]:
    pairs = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, kind, domain, a, b = line.split("\t")
        if label not in ("same", "different"):
            raise ValueError(f"bad label {label!r} in {path}")
        pairs.append(Pair(label == "same", kind, domain, a, b))
    return pairs


def run_pairs(base_url: str, key: str, pairs: list[Pair], *, model: str, tag: str) -> list[Outcome]:
    outcomes = []
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        for i, pair in enumerate(pairs):
            system = {"role": "system", "content": f"Labelled pair {tag}-{i}."}

            def ask(text: str, system: dict[str, Any] = system) -> httpx.Response:
                response = client.post("/v1/chat/completions", json={
                    "model": model, "messages": [system, {"role": "user", "content": text}]})
                response.raise_for_status()
                return response

            first = ask(pair.a)
            if first.headers["x-gateway-cache"] != "miss":
                raise AssertionError(f"pair {i}: the first prompt was answered from the cache")
            second = ask(pair.b)
            hit = second.headers["x-gateway-cache"] == "hit"
            similarity = second.headers.get("x-gateway-cache-similarity")
            outcomes.append(Outcome(pair, hit, float(similarity) if similarity else None))
    return outcomes


@dataclass(frozen=True, slots=True)
class Quality:
    paraphrases: int
    negatives: int
    recall: float           # paraphrases answered from the cache
    false_hit_rate: float   # hard negatives answered from the cache (wrongly)
    by_kind: dict[str, tuple[int, int]]   # kind -> (hits, pairs)

    def line(self) -> str:
        return (f"recall {self.recall:.1%} of {self.paraphrases} paraphrases, "
                f"false hits {self.false_hit_rate:.1%} of {self.negatives} hard negatives")


def quality(outcomes: list[Outcome], threshold: float | None = None) -> Quality:
    """With `threshold`: as if hits below it had missed (for a sweep over one run at 0)."""
    def hit(o: Outcome) -> bool:
        return o.hit and (threshold is None or (o.similarity or 0) >= threshold)

    same = [o for o in outcomes if o.pair.same]
    different = [o for o in outcomes if not o.pair.same]
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for o in outcomes:
        kind = ("same:" if o.pair.same else "different:") + o.pair.kind
        totals[kind] += 1
        hits[kind] += hit(o)
    return Quality(len(same), len(different), sum(map(hit, same)) / max(1, len(same)),
                   sum(map(hit, different)) / max(1, len(different)),
                   {k: (hits[k], totals[k]) for k in sorted(totals)})
