"""PII detection: the built-in types (detectors.py) plus operator-configured named
patterns, behind one detector that finds, redacts and tells a stream how much
trailing text could still become a match."""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from gateway.guardrails import detectors
from gateway.guardrails.detectors import CONTEXT_WINDOW, luhn_valid
from gateway.guardrails.emails import scan_email
from gateway.guardrails.fields import Carry, Layout
from gateway.guardrails.pattern_shape import pattern_shape

__all__ = ["CUSTOM_MAX_MATCH_LEN", "PII_TYPES", "Carry", "Finding", "PiiDetector", "luhn_valid"]

PII_TYPES = ("ssn", "credit_card", "email", "phone_us")

# Hold-back bound for a custom pattern whose matches are unbounded or longer.
CUSTOM_MAX_MATCH_LEN = 256

_CUSTOM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}\Z")


class Finding(NamedTuple):
    """One match: its type and span (a tuple: a CSV export holds thousands of them,
    and a tuple is made in half the time of a frozen dataclass)."""

    type: str
    start: int
    end: int


_START, _END = operator.itemgetter(1), operator.itemgetter(2)


@dataclass(frozen=True, slots=True)
class _Shape:
    """What a stream must know about one type to hold back no more than needed."""

    max_len: int
    run: re.Pattern[str] | None  # a run of characters a match can contain; None: any
    start: re.Pattern[str] | None  # one character a match can begin with; None: any

    @classmethod
    def of(cls, max_len: int, body: re.Pattern[str] | None, start: re.Pattern[str] | None) -> _Shape:
        run = None if body is None else re.compile(f"(?:{body.pattern})*", body.flags)
        return cls(max_len, run, start)


@dataclass(frozen=True, slots=True)
class _Custom:
    name: str
    pattern: re.Pattern[str]
    shape: _Shape


def _custom(name: str, source: str) -> _Custom:
    if not isinstance(name, str) or not _CUSTOM_NAME.match(name):
        raise ValueError(
            f"custom PII pattern name {name!r} must start with a letter and hold only "
            "letters, digits and underscores (at most 64)"
        )
    if name.lower() in PII_TYPES:
        raise ValueError(f"custom PII pattern name {name!r} collides with a built-in type")
    try:
        pattern = re.compile(source)
    except (re.error, TypeError) as exc:
        raise ValueError(f"custom PII pattern {name!r} ({source!r}) is not a valid regular expression: {exc}") from exc
    shape = pattern_shape(pattern)
    if shape.min_len == 0:
        raise ValueError(f"custom PII pattern {name!r} ({source!r}) can match empty text")
    max_len = min(shape.max_len or CUSTOM_MAX_MATCH_LEN, CUSTOM_MAX_MATCH_LEN)
    return _Custom(name, pattern, _Shape.of(max_len, shape.chars, shape.chars))


class PiiDetector:
    """Finds PII of the configured types; immutable and safe to share across requests."""

    def __init__(self, types: Iterable[str] = PII_TYPES, custom: Mapping[str, str] | None = None) -> None:
        wanted = list(types)
        unknown = [name for name in wanted if name not in PII_TYPES]
        if unknown:
            raise ValueError(f"unknown PII types {unknown}; known: {list(PII_TYPES)}")
        builtin = tuple(kind for kind in PII_TYPES if kind in wanted)
        self._custom = tuple(_custom(name, source) for name, source in (custom or {}).items())
        self._email = "email" in builtin
        digit_types = tuple(kind for kind in builtin if kind in detectors.DIGIT_TYPES)
        self._digits = detectors.digit_pattern(digit_types) if digit_types else None
        self._candidates = detectors.candidate_pattern(digit_types) if digit_types else None
        self._shapes = [_Shape.of(*detectors.SHAPES[kind]) for kind in builtin]
        self._shapes += [custom.shape for custom in self._custom]
        self.types: tuple[str, ...] = builtin + tuple(custom.name for custom in self._custom)
        self._tags = {kind: f"[REDACTED-{kind.upper()}]" for kind in self.types}
        self._longest_match = max((shape.max_len for shape in self._shapes), default=0)
        # A bare number whose keyword may still follow starts at most this far back.
        bare_lengths = [detectors.SHAPES[kind][0] for kind in digit_types if kind in detectors.BARE_TYPES]
        self._undecided_window = CONTEXT_WINDOW + max(bare_lengths) if bare_lengths else 0
        # The most a stream ever holds back: a match, or a bare number and the words
        # after it that may still name it.
        self.max_match_len: int = max(self._longest_match, self._undecided_window)

    def find(self, text: str, carry: Carry | None = None) -> list[Finding]:
        """Sorted, non-overlapping findings; on overlap the earlier, then the longer wins.
        `carry`: the structure open at text[0] when `text` continues a stream."""
        emails = list(scan_email(text)) if self._email and "@" in text else []
        digits = [] if self._digits is None else detectors.scan_digits(self._digits, text, carry, self._candidates)
        spans: list[tuple[int, int, int, str]] = []  # (start, -end, tie-break, type)
        for order, custom in enumerate(self._custom, 1):
            spans += [(m.start(), -m.end(), order, custom.name) for m in custom.pattern.finditer(text)]
        if not spans:
            findings = list(map(Finding._make, digits))  # (_make: no Python call per finding)
            if not emails:
                return findings  # digit matches come sorted and apart: nothing to merge
            findings += [Finding("email", start, end) for start, end in emails]
            # Both come sorted: the merge is a sort by start unless two findings overlap
            # (two emails can: "a@b.c@d.e"); whether one ends after the next starts is
            # checked in C.
            findings.sort(key=_START)
            if all(map(operator.le, map(_END, findings), map(_START, itertools.islice(findings, 1, None)))):
                return findings
        spans += [(start, -end, 0, "email") for start, end in emails]
        last = len(self._custom) + 1
        spans += [(start, -end, last, kind) for kind, start, end in digits]
        spans.sort()
        findings = []
        covered = 0
        for start, negative_end, _order, kind in spans:
            if start >= covered:
                findings.append(Finding(kind, start, -negative_end))
                covered = -negative_end
        return findings

    def could_match(self, text: str) -> bool:
        """Cheap pre-check: False when no finding can lie wholly inside `text`."""
        if self._email and "@" in text:
            return True
        if self._digits is not None and detectors.has_digit_run(text):
            return True
        return any(c.shape.start is None or c.shape.start.search(text) for c in self._custom)

    def tag(self, pii_type: str) -> str:
        """The replacement text for a finding of `pii_type`, e.g. [REDACTED-CREDIT_CARD]."""
        return self._tags[pii_type]

    def redact(self, text: str) -> tuple[str, list[Finding]]:
        findings = self.find(text)
        if not findings:
            return text, findings
        parts: list[str] = []
        append, tags, position = parts.append, self._tags, 0
        for kind, start, end in findings:  # (unpacked: a CSV export has thousands)
            append(text[position:start])
            append(tags[kind])
            position = end
        append(text[position:])
        return "".join(parts), findings

    def keep_from(self, text: str, carry: Carry | None, emitted: int, context: int) -> tuple[int, Carry | None]:
        """For a stream that has emitted text[:emitted] and keeps `context` characters
        of it to judge what follows: where to keep from instead (earlier when a table
        row or an INSERT tuple began before), and the structure open there."""
        position = max(0, emitted - context)
        if self._digits is None or not self._undecided_window:
            return position, None
        return Layout(text, carry).carry_at(position, emitted)

    def holdback(self, text: str, carry: Carry | None = None) -> int:
        """How many trailing characters of `text` could begin a match that more text
        would complete (or a bare number whose keyword may still follow, or whose
        field may still continue); a stream must not emit them yet."""
        held = 0
        if self._digits is not None and self._undecided_window:
            start = max(0, len(text) - self._undecided_window)
            waiting = detectors.undecided_bare(self._digits, text, start, carry)
            if waiting is not None:
                held = len(text) - waiting
        reversed_tail = text[len(text) - min(len(text), self._longest_match) :][::-1]
        for shape in self._shapes:
            limit = min(len(text), shape.max_len - 1)
            if limit <= held:
                continue
            if shape.run is None or shape.start is None:
                held = limit
                continue
            # The trailing run of characters a match can contain, then its first
            # character that can begin one.
            run_match = shape.run.match(reversed_tail, 0, limit)
            run = run_match.end() if run_match else 0
            first = shape.start.search(text, len(text) - run)
            if first is not None:
                held = max(held, len(text) - first.start())
        return held
