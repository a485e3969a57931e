"""Precision and recall per PII type, with the scoring rule of the shared corpus
(../shared/pii/README.md): a detection is a true positive when it overlaps a labeled
span of the same type; a labeled span no detection overlaps is a false negative; a
detection that overlaps no labeled span of its type is a false positive."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Span = tuple[str, int, int]  # (type, start, end)


@dataclass
class TypeScore:
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    misses: list[str] = field(default_factory=list)  # a few examples, for failure messages
    false_alarms: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        labeled = self.true_positives + self.false_negatives
        return self.true_positives / labeled if labeled else 1.0


def _overlaps(a: Span, b: Span) -> bool:
    return a[0] == b[0] and a[1] < b[2] and b[1] < a[2]


def score_line(
    text: str, labeled: Sequence[Span], detected: Sequence[Span], scores: dict[str, TypeScore], examples: int = 5
) -> None:
    for span in detected:
        score = scores.setdefault(span[0], TypeScore())
        if any(_overlaps(span, label) for label in labeled):
            score.true_positives += 1
        else:
            score.false_positives += 1
            if len(score.false_alarms) < examples:
                score.false_alarms.append(f"{text[span[1] : span[2]]!r} in {text!r}")
    for label in labeled:
        score = scores.setdefault(label[0], TypeScore())
        if not any(_overlaps(span, label) for span in detected):
            score.false_negatives += 1
            if len(score.misses) < examples:
                score.misses.append(f"{text[label[1] : label[2]]!r} in {text!r}")


def score_corpus(records: Iterable[Mapping[str, Any]], detect: Callable[[str], Sequence[Span]]) -> dict[str, TypeScore]:
    scores: dict[str, TypeScore] = {}
    for record in records:
        text = record["text"]
        labeled = [(span["type"], span["start"], span["end"]) for span in record["spans"]]
        score_line(text, labeled, detect(text), scores)
    return scores


def read_corpus(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]
