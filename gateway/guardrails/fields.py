"""The structure of pasted data, as far as PII detection needs it: which field a
number fills, and what the field's name says it holds.

A field has a name in three layouts:
- a key right before the value: `"ssn": "123456789"`, `ssn=123456789`, `SSN: ...`,
  `phone => ...` (JSON, logfmt, query strings, YAML, INI, SQL `SET ssn = '...'`);
- a column of a table: a header line of names split by `,` `;` tab or `|` (CSV, TSV,
  pipe and Markdown tables), followed by the lines that hold the same delimiter;
- a column of an SQL `INSERT INTO t (a, ssn, ...) VALUES (...), (...)` list, or of the
  tab-separated rows of a PostgreSQL `COPY t (a, ssn, ...) FROM stdin;` block.

A number fills a field when only quotes and spaces stand between it and the field's
delimiters. A filled field is judged by its name alone (a bare number under an
`employee_id` header is not an SSN, whatever the words around it say); a number that
does not fill a field is judged as prose.

Tables and INSERT lists reach past any fixed window, so a stream carries the
structure open at the start of its kept text (a `Carry`) instead of the text itself.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass
from typing import Final, Literal

from gateway.guardrails.sql_lists import INSERT, insert_at, inserts, opens_tuple, sql_end

# A table row, or a tuple of an INSERT list, is judged by its column only within this
# many characters of its start (a stream keeps at most this much of a row).
RECORD_CAP: Final = 1024
# A key is read back at most this far from its value.
KEY_WINDOW: Final = 48

# --- what a name says -------------------------------------------------------------------

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_ALNUM = re.compile(r"[^a-z0-9#]+")
_SSN_TOKENS = frozenset({"ssn", "ssns", "ssnno", "ssnum", "ssno"})
_SSN_PAIRS = (("social", "security"), ("soc", "sec"), ("taxpayer", "id"))
_SS_SUFFIXES = frozenset({"no", "num", "nbr", "number", "#"})
_PHONE_TOKENS = frozenset(
    {"phone", "phones", "telephone", "tel", "mobile", "cell", "cellular", "cellphone", "fax", "cb", "callback",
     "msisdn", "whatsapp", "sms", "landline", "ph", "mob", "phonenumber", "phoneno", "telno", "mobileno", "homephone",
     "workphone"}
)
_CARD_TOKENS = frozenset({"card", "cardnumber", "cardno", "cc", "ccnum", "ccnumber", "pan", "creditcard", "ccn"})
_EMAIL_TOKENS = frozenset({"email", "mail", "emailaddress"})
_ID_TOKENS = frozenset(
    {"id", "ids", "order", "invoice", "ticket", "case", "account", "acct", "tracking", "ref", "reference",
     "confirmation", "transaction", "txn", "receipt", "booking", "reservation", "policy", "claim", "member",
     "routing", "serial", "part", "sku", "batch", "isbn", "item", "imei", "iccid", "npi", "employee", "emp",
     "mrn", "zip", "postal", "po", "ts", "timestamp", "number", "no", "num"}
)
ID = "id"  # the kind of a field named like an identifier that is not PII


@functools.lru_cache(maxsize=4096)
def name_kinds(name: str) -> frozenset[str]:
    """The PII types a field name says its values are ("ssn", "phone_us", ...), or
    {"id"} for an identifier's name (order_id, imei, zip ...), or nothing."""
    tokens = _NON_ALNUM.split(_CAMEL.sub(" ", name).lower().replace("#", " # "))
    words = frozenset(token for token in tokens if token)
    kinds = set()
    if words & _SSN_TOKENS or any(a in words and b in words for a, b in _SSN_PAIRS):
        kinds.add("ssn")
    elif "ss" in words and words & _SS_SUFFIXES:
        kinds.add("ssn")
    if words & _PHONE_TOKENS or ("contact" in words and words & {"no", "num", "number"}):
        kinds.add("phone_us")
    if words & _CARD_TOKENS or "credit" in words:
        kinds.add("credit_card")
    if words & _EMAIL_TOKENS:
        kinds.add("email")
    if not kinds and words & _ID_TOKENS:
        kinds.add(ID)
    return frozenset(kinds)


# --- tables and INSERT lists ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Table:
    """What a header says: the delimiter and each column's kinds. `sql`: the columns
    of an INSERT list, whose records are the parenthesised tuples."""

    delimiter: str
    columns: tuple[frozenset[str], ...]
    sql: bool = False


@dataclass(frozen=True, slots=True)
class Carry:
    """The structure open at the start of a text that continues an earlier one.
    `table`: the table whose records continue there (the text starts at a record
    start unless `mid_record`); `mid_record`: the text starts inside a line."""

    table: Table | None = None
    mid_record: bool = False


@dataclass(frozen=True, slots=True)
class Region:
    """Where the records of one table or INSERT list lie."""

    table: Table
    start: int  # where its records begin
    end: int  # where they end (exclusive)


# A header line: names (or nothing, as around a Markdown table's outer pipes) split by
# one delimiter. Possessive, and found from the "\n" before it: the regex engine skips
# to each newline instead of trying every position.
# A name is at most four words, none of them a number.
_NAME_WORD = r"[A-Za-z0-9_.#/()'-]{0,31}+"
_HEADER_FIELD = (
    rf"\x20*+(?:\"[A-Za-z][^\"\n]{{0,63}}+\"|[A-Za-z]{_NAME_WORD}(?:\x20[A-Za-z#(]{_NAME_WORD}){{0,3}}+)?+\x20*+"
)
_HEADER = re.compile(
    rf"\n(?P<h>{_HEADER_FIELD}(?P<d>[,;\t|]){_HEADER_FIELD}(?:(?P=d){_HEADER_FIELD})*+)\r?(?=\n)"
)
_COPY = re.compile(r"COPY\x20+[\w.\"]+\x20*\((?P<columns>[^()\n]{1,2000})\)\x20+FROM\x20+stdin[^\n]*\n")
# What a header line may hold so far: whole or partial names and delimiters.
_HEADER_SO_FAR = re.compile(rf"{_HEADER_FIELD}(?:[,;\t|]{_HEADER_FIELD})*+\r?")
_HEADER_QUOTE_OPEN = re.compile(rf"(?:{_HEADER_FIELD}[,;\t|])*+\x20*+\"[^\"\n]{{0,64}}+")
_QUOTED = {"\"": re.compile(r"\"[^\"\n]*\""), "'": re.compile(r"'[^'\n]*'")}
# The first complete line without the delimiter (a blank line too) ends a table (found
# from the "\n" before it: a "^" would make the regex engine try every position).
_ROWS_END = {d: re.compile(rf"\n[^{re.escape(d)}\n]*+\n") for d in ",;\t|"}
_FIRST_ROW_ENDS = {d: re.compile(rf"[^{re.escape(d)}\n]*+\n") for d in ",;\t|"}
# A key right before a value, read on the reversed text: closing quotes and spaces,
# the separator (":", "=", "=>", ":=" or the ">" of an XML tag), then the key.
_KEY_REVERSED = re.compile(
    r"[\x20\t\"']*(?:>(?P<tag>[A-Za-z0-9_.-]{1,48})<"
    r"|(?:>=|=:?)(?:[\x20\t]+[\"']?(?P<spaced>[A-Za-z0-9_.#()/\x20-]{1,48})|[\"']?(?P<token>[A-Za-z0-9_.#\[\]-]{1,48}))"
    r"|:[\x20\t]*[\"']?(?P<words>[A-Za-z0-9_.#()/\x20-]{1,48}))"
)
_CELL_EDGES = frozenset(",;\t|()\r\n")
# What may stand between a cell's value and its delimiters.
_PADDING = frozenset(" \"'")
_LETTER = re.compile("[A-Za-z]")


class Layout:
    """The tables and INSERT lists of one text, found on first use."""

    __slots__ = ("_carry", "_line", "_sql", "_starts", "known_regions", "text")

    def __init__(self, text: str, carry: Carry | None = None) -> None:
        self.text = text
        self._carry = carry
        self.known_regions: list[Region] | None = None  # once something asked for them
        self._starts: list[int] | None = None
        self._line: tuple[int, int, Region] | None = None
        self._sql: list[Region] | None = None

    def regions(self) -> list[Region]:
        if self.known_regions is None:
            self.known_regions = self._find_regions()
        return self.known_regions

    def _find_regions(self) -> list[Region]:
        text, carry = self.text, self._carry
        regions: list[Region] = []
        first_line = 0
        if carry is not None and carry.mid_record:
            first_line = text.find("\n") + 1 or len(text)
        if carry is not None and carry.table is not None:
            if carry.table.sql:  # a tuple begun before the text has no "(" in it
                regions.append(Region(carry.table, 0, sql_end(text, 0)))
            else:
                regions.append(Region(carry.table, first_line, _rows_end(text, first_line, carry.table.delimiter)))
        has_insert = insert_at(text, 0, len(text)) != -1
        if "\n" not in text and not has_insert:  # (a COPY line ends in one too)
            return regions  # no whole line, no INSERT: nothing that could be a header
        # (a header is a whole line: one the text ends in may not be complete)
        mid_record = carry is not None and carry.mid_record
        lines, shift = (text, 0) if mid_record else ("\n" + text, 1)
        for header in _HEADER.finditer(lines, max(0, first_line - 1)):
            delimiter = header.group("d")
            if header.group("h")[:12].lstrip().lower().startswith("insert"):
                continue  # an INSERT's column list, read below
            columns = _split_names(header.group("h"), delimiter)
            if not any(columns):
                continue
            start = header.end() + 1 - shift
            regions.append(Region(Table(delimiter, columns), start, _rows_end(text, start, delimiter)))
        if has_insert:
            for insert in inserts(text):
                columns = _split_names(insert.group("columns"), ",")
                if any(columns):
                    start = insert.end()
                    regions.append(Region(Table(",", columns, sql=True), start, sql_end(text, start)))
        copy = text.find("COPY ", first_line)
        while copy != -1:  # PostgreSQL dumps: COPY t (cols) FROM stdin; then tab-separated rows
            statement = _COPY.match(text, copy) if copy == 0 or text[copy - 1] == "\n" else None
            if statement is not None:
                columns = _split_names(statement.group("columns"), ",")
                if any(columns):
                    start = statement.end()
                    regions.append(Region(Table("\t", columns), start, _rows_end(text, start, "\t")))
            copy = text.find("COPY ", copy + 5)
        regions.sort(key=lambda region: region.start)
        return regions

    def region_at(self, position: int) -> Region | None:
        """The last-begun table or INSERT list whose records cover `position`."""
        regions = self.regions()
        if not regions:
            return None
        if self._starts is None:
            self._starts = [region.start for region in regions]
        for index in range(bisect.bisect_right(self._starts, position) - 1, -1, -1):
            if position < regions[index].end:
                return regions[index]
        return None

    def _sql_regions(self) -> list[Region]:
        if self._sql is None:
            self._sql = [region for region in self.regions() if region.table.sql]
        return self._sql

    def record_start(self, region: Region, position: int) -> int:
        """Start of the record holding `position`: its line, or the "(" of its INSERT
        tuple (-1 when `position` lies between tuples)."""
        text = self.text
        if not region.table.sql:
            return max(text.rfind("\n", 0, position) + 1, region.start)
        opening = text.rfind("(", region.start, position)
        # A tuple opens after VALUES or a ",": not the "(" of '(312) 555-0199'.
        while opening != -1 and not opens_tuple(text, region.start, opening):
            opening = text.rfind("(", region.start, opening)
        if opening == -1:
            return -1
        inside = text[opening:position]
        for quote in "'\"":
            if quote in inside:
                inside = _QUOTED[quote].sub("", inside)
        return -1 if ")" in inside else opening

    def column(self, start: int, end: int, final: bool) -> frozenset[str] | Literal[False] | None:
        """The kinds of the column whose cell text[start:end] fills; False when it
        fills no cell of a table; None when that depends on text not seen yet."""
        text, length = self.text, len(self.text)
        # First, cheaply: a cell's value has a delimiter or a record's edge on each side.
        low, high = start - 1, end
        while low >= 0 and text[low] in _PADDING:
            low -= 1
        while high < length and text[high] in _PADDING:
            high += 1
        before = text[low] if low >= 0 else "\n"
        after = text[high] if high < length else ""
        if before not in _CELL_EDGES or (after and after not in _CELL_EDGES):
            return False
        line = self._line  # the table of the line last asked about
        if line is not None and line[0] <= start < line[1]:
            region, record = line[2], line[0]
        else:
            found = self.region_at(start)
            if found is None:
                return False
            region, record = found, self.record_start(found, start)
            if record == -1:
                return False
            if not region.table.sql:  # an INSERT list may begin or end mid-line: its lines are not cached
                line_end = text.find("\n", start)
                line_end = length if line_end == -1 else line_end
                if not any(sql.start <= line_end and sql.end >= record for sql in self._sql_regions()):
                    self._line = (record, line_end, region)
        table = region.table
        delimiter, first = table.delimiter, record + 1 if table.sql else record
        if start - record > RECORD_CAP or (low >= first and before != delimiter):
            return False
        if not after:
            if not final:
                return None
            after = "\n"
        if after != delimiter and (after not in (")" if table.sql else "\r\n") or (low < first and not table.sql)):
            return False  # text follows in the cell, or a lone number on a line
        prefix = text[first:start]
        for quote in "\"'":
            if quote in prefix:
                prefix = _QUOTED[quote].sub("", prefix)
        index = prefix.count(delimiter)
        return table.columns[index] if index < len(table.columns) else False

    def carry_at(self, position: int, limit: int) -> tuple[int, Carry]:
        """For a stream that has emitted text[:limit] and keeps its tail from about
        `position`: where to keep from (never after `position`) and the structure
        open there, so that what follows is judged as in the whole text."""
        text = self.text
        carry = self._carry
        table = carry.table if carry is not None and carry.mid_record else None
        if table is not None and not table.sql and text.find("\n", 0, position) == -1:
            return position, Carry(table, mid_record=True)  # still inside the line the text began in
        region = self.region_at(position)
        if region is not None:
            record = self.record_start(region, position)
            if record != -1 and limit - record <= RECORD_CAP:
                return record, Carry(region.table)
            return position, Carry(region.table, mid_record=region.table.sql or not self._line_starts(position))
        # A line that may still become a header is kept whole; prose only its tail.
        keep = position
        line_start = text.rfind("\n", 0, position) + 1
        if self._line_starts(line_start) and limit - line_start <= RECORD_CAP:
            line_end = text.find("\n", line_start, limit)
            line_end = limit if line_end == -1 else line_end
            if text.startswith("COPY", line_start) or _HEADER_SO_FAR.fullmatch(text, line_start, line_end) or (
                line_end == limit and _HEADER_QUOTE_OPEN.fullmatch(text, line_start, line_end)
            ):
                keep = line_start
        # An INSERT whose column list is still arriving, or not yet behind, is kept whole.
        word = insert_at(text, max(0, limit - RECORD_CAP), min(keep + len("INSERT"), len(text)))
        if word != -1 and word < keep:
            insert = INSERT.match(text, word)
            if insert is None or insert.end() > position:
                keep = word
        return keep, Carry(mid_record=not self._line_starts(keep))

    def _line_starts(self, position: int) -> bool:
        """Whether a line of the whole text starts at `position`."""
        if position == 0:
            return self._carry is None or not self._carry.mid_record
        return self.text[position - 1] == "\n"


def key_kinds(text: str, start: int) -> frozenset[str] | None:
    """The kinds the key right before text[start] names, or None when no key is there."""
    before = start - 1
    while before >= 0 and text[before] in " \t\"'":
        before -= 1
    if before < 0 or text[before] not in ":=>":
        return None  # the common case, settled without the regex
    window = text[max(0, start - KEY_WINDOW - 8) : start][::-1]
    key = _KEY_REVERSED.match(window)
    if key is None:
        return None
    name = (key.group("tag") or key.group("token") or key.group("spaced") or key.group("words"))[::-1]
    letter = _LETTER.search(name)
    return None if letter is None else name_kinds(name[letter.start() :])


def field_closes(text: str, end: int, final: bool) -> bool | None:
    """Whether a keyed value ends its field at `end` (a closing quote, a delimiter, the
    line's end or the next key follows); None when that depends on text not seen yet."""
    after = end
    while after < len(text) and text[after] in "\"'":
        after += 1
    if after == len(text):
        return True if final else None
    char = text[after]
    if char in ",;}]&|\n\r<":
        return True
    if char not in " \t":
        return False
    if not final and _NEXT_KEY_ARRIVING.fullmatch(text, after):
        return None
    rest = _NEXT_KEY.match(text, after)
    if rest is None:
        return False
    return True if rest.end() < len(text) or final else None


# After a keyed value: spaces, then the next key (logfmt), a comment or the line's end.
_NEXT_KEY = re.compile(r"[\x20\t]+(?:[A-Za-z_][\w.-]{0,47}=|\#|HTTP/|$)", re.MULTILINE)
_NEXT_KEY_ARRIVING = re.compile(r"[\x20\t]+(?:[A-Za-z_][\w.-]{0,47}|HTTP/)?")


def _split_names(line: str, delimiter: str) -> tuple[frozenset[str], ...]:
    return tuple(name_kinds(field.strip().strip("\"'`[] ")) for field in line.split(delimiter))


def _rows_end(text: str, start: int, delimiter: str) -> int:
    """Start of the first complete line from `start` without the delimiter."""
    if start == 0 and _FIRST_ROW_ENDS[delimiter].match(text):
        return 0
    end = _ROWS_END[delimiter].search(text, max(0, start - 1))
    return len(text) if end is None else end.start() + 1
