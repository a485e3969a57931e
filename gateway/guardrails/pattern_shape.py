"""The static shape of a regular expression: how long a match can be and which
characters a match can consume.

Streamed-response redaction needs both to hold back as little text as possible
while a match could still be forming. Python exposes neither publicly, so this reads
the standard library's own parse tree (``re._parser``). Should that internal change
shape, every question gets the conservative answer (unbounded, any character), which
only costs stream latency, never a missed redaction.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

# A width above this is treated as unbounded (the parser reports MAXREPEAT-based sums).
_UNBOUNDED = 1 << 20

_CATEGORY_ESCAPES = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
}


class _AnyChar(Exception):
    """Raised while walking the tree when a match could consume any character."""


@dataclass(frozen=True, slots=True)
class PatternShape:
    min_len: int
    max_len: int | None  # None: unbounded
    chars: re.Pattern[str] | None  # matches one character a match can consume; None: any


def pattern_shape(pattern: re.Pattern[str]) -> PatternShape:
    try:
        parser: Any = importlib.import_module("re._parser")
        tree = parser.parse(pattern.pattern, pattern.flags)
        low, high = tree.getwidth()
    except Exception:  # an unknown stdlib internal: answer conservatively
        return PatternShape(0 if pattern.search("") else 1, None, None)
    max_len = None if high >= _UNBOUNDED else int(high)
    try:
        items: list[str] = []
        ignore_case = _collect(tree, items)
    except Exception:  # _AnyChar, or a tree shape this walker does not know
        return PatternShape(int(low), max_len, None)
    if not items:
        return PatternShape(int(low), max_len, None)
    flags = pattern.flags | (re.IGNORECASE if ignore_case else 0)
    return PatternShape(int(low), max_len, re.compile("[" + "".join(items) + "]", flags))


def _collect(tree: Any, items: list[str]) -> bool:
    """Append class items for every character `tree` can consume; True if a
    scoped (?i:...) group was seen."""
    ignore_case = False
    for op, arg in tree:
        name = str(op)
        if name == "LITERAL":
            items.append(re.escape(chr(arg)))
        elif name == "IN":
            _collect_set(arg, items)
        elif name in ("NOT_LITERAL", "ANY", "GROUPREF"):
            raise _AnyChar
        elif name == "BRANCH":
            for branch in arg[1]:
                ignore_case |= _collect(branch, items)
        elif name == "SUBPATTERN":
            _group, add_flags, _del_flags, sub = arg
            ignore_case |= bool(add_flags & re.IGNORECASE)
            ignore_case |= _collect(sub, items)
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            ignore_case |= _collect(arg[2], items)
        elif name == "ATOMIC_GROUP":
            ignore_case |= _collect(arg, items)
        elif name == "GROUPREF_EXISTS":
            _group, yes, no = arg
            ignore_case |= _collect(yes, items)
            if no is not None:
                ignore_case |= _collect(no, items)
        elif name in ("ASSERT", "ASSERT_NOT", "AT"):
            continue  # consumes nothing
        else:
            raise _AnyChar
    return ignore_case


def _collect_set(members: Any, items: list[str]) -> None:
    for op, arg in members:
        name = str(op)
        if name == "LITERAL":
            items.append(re.escape(chr(arg)))
        elif name == "RANGE":
            items.append(re.escape(chr(arg[0])) + "-" + re.escape(chr(arg[1])))
        elif name == "CATEGORY" and str(arg) in _CATEGORY_ESCAPES:
            items.append(_CATEGORY_ESCAPES[str(arg)])
        else:  # NEGATE and anything unknown
            raise _AnyChar
