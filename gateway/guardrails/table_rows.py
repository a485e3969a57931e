"""Table rows decided in bulk: the speed of PII detection on CSV exports and the like.

In a table (fields.py) a bare number that fills a cell is judged by its column alone,
so once the digit scan (detectors.py) has met a table, the rows that follow need no
look at each number: one regular expression per table finds the run of rows that
hold nothing else a digit match could come from, and one per SSN or phone column
finds the valid values in those rows. Python then runs once per value found, not
once per number, which is what keeps a PII-dense export under 50 us/KiB.

A row is decided here only when every cell of it is either
- a "pure" number (digits with spaces around them), not of a card's 13-19 digits, or
- anything without quotes and with at most eight digits (no digit match has fewer
  than nine, and none crosses a delimiter or a line),
the row holds the delimiter, and it is no longer than RECORD_CAP. Its verdicts are
then exactly those of Layout.column: the cell index is the count of delimiters
before it, and a pure 9-digit valid SSN (10/11-digit valid NANP number) is one when
its column names the type. Every other row, and text outside tables, takes the
general path. TSV cells ending in ":", "=" or ">" are left to it too, because a key
(fields.key_kinds) is read back across a tab.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import re
from dataclasses import dataclass

from gateway.guardrails.fields import RECORD_CAP, Layout, Region, Table

# The bare forms of detectors.py, for a value alone in its cell.
_SSN_CELL = r"(?!000|666|9)[0-9]{3}(?!00)[0-9]{2}(?!0000)[0-9]{4}"
_PHONE_CELL = r"1?[2-9][0-9]{2}[2-9][0-9]{6}"
_BULK_KINDS = {"ssn": _SSN_CELL, "phone_us": _PHONE_CELL}

Found = tuple[str, int, int]
# A table whose next row was undecidable this many times in a row is left to the general
# path: each attempt costs a regex match, and the general path is exact anyway.
_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Block:
    """Rows text[start:end] (whole lines) decided in bulk, and the values found in them."""

    start: int
    end: int
    found: list[Found]


@dataclass(frozen=True, slots=True)
class _Rows:
    """One decidable row, from the "\n" before it; `groups`: (group, type) of the cells
    that hold a valid value of a type their column names."""

    pattern: re.Pattern[str]
    groups: tuple[tuple[int, str], ...]


def _rows(table: Table, rows_ahead: int) -> _Rows | None:
    """The row pattern of a table's shape: its delimiter and which columns name an SSN
    or a phone (tables that differ only in other names share one pattern). None for a
    shape not compiled yet when fewer than _COMPILE_AHEAD characters of rows are left
    (compiling, ~1 ms, would cost more than the rows decided one number at a time), and
    for any shape below _BULK_AHEAD (a stream's few kept rows: not worth a look)."""
    if rows_ahead < _BULK_AHEAD:
        return None
    shape = _shape(table)
    rows = _COMPILED.get(shape)
    if rows is None and rows_ahead >= _COMPILE_AHEAD:
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        rows = _COMPILED[shape] = _shape_rows(*shape)
    return rows


_Shape = tuple[str, tuple[frozenset[str], ...]]
_COMPILE_AHEAD, _BULK_AHEAD = 2048, 512
_COMPILED: dict[_Shape, _Rows] = {}
_COMPILED_MAX = 256


@functools.lru_cache(maxsize=1024)
def _shape(table: Table) -> _Shape:
    return table.delimiter, tuple(frozenset(_BULK_KINDS.keys() & kinds) for kinds in table.columns)


# Compiling costs ~0.1 ms per cell of the pattern: columns that name neither type are
# matched by one repeated cell, so the pattern grows with the named columns only.
def _shape_rows(delimiter: str, columns: tuple[frozenset[str], ...]) -> _Rows:
    d = re.escape(delimiter)
    stop = d + r"\n\r\"'" + (":=>" if delimiter == "\t" else "")
    end = rf"(?=\x20*+(?:[{d}\r\n]|\Z))"
    harmless = rf"[^{stop}0-9]*+(?:[0-9][^{stop}0-9]*+){{0,8}}+"
    # Not 13-19 digits: a card's length is left to the general path (Luhn, issuer).
    pure = rf"\x20*+(?:[0-9]{{1,12}}+|[0-9]{{20,}}+){end}\x20*+"
    cell = f"(?:{pure}|{harmless})"
    groups: list[tuple[int, str]] = []

    def named(kinds: frozenset[str]) -> str:
        values = []
        for kind, body in _BULK_KINDS.items():
            if kind in kinds:
                groups.append((len(groups) + 1, kind))
                values.append(f"({body})")
        return rf"(?:\x20*+(?:{'|'.join(values)}){end}\x20*+|{pure}|{harmless})"

    # Flat, not nested: a piece matches fewer cells than its columns only where the row
    # ends, or where a cell fits no piece and the row fails anyway.
    pieces = [named(columns[0]) if columns[0] else cell]
    plain = 0
    for kinds in columns[1:]:
        if not kinds:
            plain += 1
            continue
        if plain:
            pieces.append(f"(?:{d}{cell}){{0,{plain}}}+")
            plain = 0
        pieces.append(f"(?:{d}{named(kinds)})?+")
    if plain:
        pieces.append(f"(?:{d}{cell}){{0,{plain}}}+")
    # Cells past the header's last column are judged as prose: only harmless ones there.
    # (The row's length, and that it holds the delimiter, are checked by TableRows.)
    row = rf"\n{''.join(pieces)}(?:{d}{harmless})*+\r?(?=\n|\Z)"
    return _Rows(re.compile(row), tuple(groups))


class TableRows:
    """The bulk decisions for one text; asked in text order by the digit scan."""

    __slots__ = ("_failures", "_index", "_layout", "_segments", "_tried", "done")

    def __init__(self, layout: Layout) -> None:
        self._layout = layout
        self._segments: list[tuple[int, int, Table, _Rows]] | None = None
        self._index = 0
        self._tried = -1
        self._failures = 0  # attempts in a row that found the table's next row undecidable
        self.done = False  # no table left to try: the scan need not ask again

    def block_after(self, position: int) -> Block | None:
        """The first run of decidable rows from the first table line at or after
        `position`, once the layout's tables are known (a candidate asked for
        them); None when there is none there."""
        segments = self._segments
        if segments is None:
            regions = self._layout.known_regions
            if regions is None:
                return None  # no number asked for a column yet: no table met
            segments = self._segments = _table_segments(self._layout.text, regions)
        while self._index < len(segments) and (
            segments[self._index][1] <= position or self._failures >= _ATTEMPTS
        ):
            self._index, self._failures = self._index + 1, 0  # (rows that keep failing: leave the table)
        if self._index == len(segments):
            self.done = True
            return None
        start, end, table, rows = segments[self._index]
        text = self._layout.text
        if position > start:
            start = position if text[position - 1] == "\n" else text.find("\n", position, end) + 1
            if start in (0, end):
                return None  # the rest of the table is the line `position` is in
        if start == self._tried:
            return None
        self._tried = start
        found: list[Found] = []
        expected = start - 1
        if rows.pattern.match(text, expected, end) is None:
            self._failures += 1
            return None  # (and no search on for a decidable row further down)
        self._failures = 0
        for row in rows.pattern.finditer(text, expected, end):
            row_start, row_end = row.span()
            if row_start != expected or not expected + 1 < row_end <= expected + 1 + RECORD_CAP:
                break  # a row that is not decidable (or empty, where the rows end): the general path takes it
            if row_end == len(text) and text.find(table.delimiter, expected, row_end) == -1:
                break  # the text's last line, unfinished, holds no delimiter: it is no row (yet)
            expected = row_end
            for group, kind in rows.groups:
                value_start, value_end = row.span(group)
                if value_start != -1:
                    found.append((kind, value_start, value_end))
        if expected < start:
            return None
        return Block(start, expected + 1 if expected < len(text) else expected, found)


def _table_segments(text: str, regions: list[Region]) -> list[tuple[int, int, Table, _Rows]]:
    """Whole lines (after the first, which has no "\\n" before it) where a table that is
    not an INSERT list governs, with its row pattern: the last-begun region covering a
    position does (Layout.region_at), so a header inside a table starts another."""
    bounds = sorted({0, len(text), *(r.start for r in regions), *(r.end for r in regions)})
    active: list[tuple[int, int]] = []  # (-index, end): the last-begun region on top
    begun = 0  # regions come sorted by start (Layout.regions)
    segments: list[tuple[int, int, Table]] = []
    for low, high in itertools.pairwise(bounds):
        while begun < len(regions) and regions[begun].start <= low:
            heapq.heappush(active, (-begun, regions[begun].end))
            begun += 1
        while active and active[0][1] <= low:
            heapq.heappop(active)
        if not active:
            continue
        table = regions[-active[0][0]].table
        if table.sql:
            continue
        if segments and segments[-1][1] == low and segments[-1][2] is table:
            segments[-1] = (segments[-1][0], high, table)
        else:
            segments.append((low, high, table))
    whole: list[tuple[int, int, Table, _Rows]] = []
    for low, high, table in segments:
        if low == 0 or text[low - 1] != "\n":
            low = text.find("\n", low, high) + 1 or high
        if high != len(text):
            high = text.rfind("\n", low, high) + 1 or low
        if low < high and (rows := _rows(table, high - low)) is not None:
            whole.append((low, high, table, rows))
    return whole
