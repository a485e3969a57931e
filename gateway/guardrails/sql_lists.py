"""SQL INSERT lists as PII detection reads them (fields.py): where an
`INSERT INTO t (a, ssn, ...) VALUES` statement is, where a tuple of its VALUES opens,
and where the statement ends."""

from __future__ import annotations

import re
from collections.abc import Iterator

INSERT = re.compile(
    r"\bINSERT\s+INTO\s+[\w.\"`\[\]]+\s*\((?P<columns>[^()]{1,2000})\)\s*VALUES\b", re.IGNORECASE
)
# Case-insensitive regexes without a literal prefix try every position (~45 us/KiB):
# the spellings are looked for with str.find first.
INSERT_SPELLINGS = ("INSERT", "insert", "Insert")


def opens_tuple(text: str, values: int, opening: int) -> bool:
    """Whether the "(" at `opening` follows VALUES (at `values`) or a ",", spaces aside."""
    before = opening - 1
    while before >= values and text[before] in " \t\r\n":
        before -= 1
    return before < values or text[before] == ","


def insert_at(text: str, start: int, end: int) -> int:
    """The first "INSERT" (in a usual spelling) in text[start:end], or -1."""
    found = -1
    for word in INSERT_SPELLINGS:
        at = text.find(word, start, end)
        if at != -1 and (found == -1 or at < found):
            found = at
    return found


def inserts(text: str) -> Iterator[re.Match[str]]:
    """What `INSERT.finditer(text)` finds. The regex, case-insensitive and without a
    literal prefix, tries every position (~25 us/KiB); in ASCII text (where lowering
    keeps every position) it is tried only where "insert" is spelled, in any case."""
    if not text.isascii():
        yield from INSERT.finditer(text)
        return
    lowered, position = text.lower(), 0
    while (word := lowered.find("insert", position)) != -1:
        insert = INSERT.match(text, word)
        if insert is None:
            position = word + 1
        else:
            yield insert
            position = insert.end()


def sql_end(text: str, start: int) -> int:
    """Where the statement whose VALUES begin at `start` ends: its ";" or the text's end."""
    end = text.find(";", start)
    return len(text) if end == -1 else end
