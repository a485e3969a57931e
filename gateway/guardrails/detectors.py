"""The built-in PII patterns: US Social Security numbers, payment card numbers, US
phone numbers and email addresses, with the checks a regular expression cannot make
(Luhn, issuer and length, the name or keyword that names a bare number).

Every digit pattern anchors on token boundaries: a digit that continues a longer
number (directly, or through ``-`` or ``.``) never starts or ends a match, so order
ids, part numbers, ZIP+4 codes and ISBNs are not taken apart; a cue glued to a number
("no.123-45-6789", "Tel.2125550199") is no such continuation. Nine or ten bare digits
count only when named: by the key or the table column of the field they fill
(fields.py), else by a keyword in the same sentence ("SSN", "SS No.", "cb", ...;
context.py). Emails are found in emails.py.

Speed: the three digit patterns run as one alternation over the whole text, written
so that the regex engine skips in C to each digit, "(" or "+" and gives up at once
where fewer than nine linked digits follow (candidate_pattern). Once a number has
met a table, the windowed scan takes over: it searches only windows around runs of
nine digits or more, and decides the table's following rows in bulk where it can
(table_rows.py), not one number at a time.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Literal

from gateway.guardrails.context import CONTEXT_WINDOW as CONTEXT_WINDOW  # (re-exported)
from gateway.guardrails.context import named_by_context
from gateway.guardrails.emails import EMAIL_LOCAL_CHARS, EMAIL_MAX_LEN
from gateway.guardrails.fields import ID, Carry, Layout, field_closes, key_kinds
from gateway.guardrails.table_rows import Block, TableRows

Span = tuple[int, int]
DIGIT_TYPES = ("ssn", "credit_card", "phone_us")

# No letter, digit or underscore touches a match, directly or through - or .
# (a letter then "." is checked after the match: only a cue word may be glued on).
_LEFT = r"(?<![A-Za-z0-9_])(?<![0-9_][-.]|[A-Za-z]-)"
_RIGHT = r"(?![A-Za-z0-9_])(?![-.][A-Za-z0-9_])"

# SSN: no 000/666/9xx area, no 00 group, no 0000 serial.
_AREA, _GROUP, _SERIAL = r"(?!000|666|9)\d{3}", r"(?!00)\d{2}", r"(?!0000)\d{4}"
_SSN = (
    rf"{_AREA}-{_GROUP}-{_SERIAL}"
    rf"|(?<!\d\x20){_AREA}\x20{_GROUP}\x20{_SERIAL}(?!\x20\d)"  # spaced: not mid-list
    rf"|(?P<ssn_bare>{_AREA}{_GROUP}{_SERIAL})"
)

# Cards as printed and typed: 4-4-4-4(-1..3), 4-4-4-1..3, 4-6-4/5 (Amex, Diners), or
# 13-19 digits unbroken; one separator kind per number. A spaced number is not part
# of a longer list, but "4111 1111 1111 1111 12/29" carries its expiry.
_CARD_GROUPS = (
    r"\d{{4}}{s}\d{{4}}{s}\d{{4}}{s}(?:\d{{4}}(?:{s}\d{{1,3}}(?![\d/]))?|\d{{1,3}})|\d{{4}}{s}\d{{6}}{s}\d{{4,5}}"
)
# Dashes or dots, one kind per number (spelled out, not a back-reference: the scan's
# pattern runs inside a look-behind, where Python's re refuses them).
_CARD_MARKED = "|".join(_CARD_GROUPS.format(s=separator) for separator in (r"-", r"\."))
_CARD_SPACED = _CARD_GROUPS.format(s=r"\x20")
_CARD = rf"\d{{13,19}}|(?:{_CARD_MARKED})|(?<!\d\x20)(?:{_CARD_SPACED})(?!\x20\d{{1,6}}(?![\d/]))"
# Issuer prefixes and the lengths they issue: Visa, Mastercard (2- and 5-series), Amex,
# Diners, JCB, Discover, UnionPay, Maestro. ISBN-13s (978/979), IMEIs (15 digits, 35/86
# ...) and the 1/7/8/9-led numbers of other schemes fall out.
_CARD_ISSUERS = re.compile(
    r"4(?:\d{12}|\d{15}|\d{18})"
    r"|3[47]\d{13}"
    r"|(?:5[1-5]\d\d|222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d|2720)\d{12}"
    r"|3(?:0[0-59]|[689]\d)\d{11,16}"
    r"|35(?:2[89]|[3-8]\d)\d{12,15}"
    r"|(?:6011|64[4-9]\d|65\d\d|62\d\d)\d{12,15}"
    r"|(?:50|5[6-8]|6\d)\d{10,17}",
    re.ASCII,
)

# NANP: the area code and the exchange do not start with 0 or 1.
_NPA = _NXX = r"[2-9]\d{2}"
_PHONE = (
    "(?:"
    rf"(?:\+?1[-.\x20])?{_NPA}(?:-{_NXX}-|\.{_NXX}\.)\d{{4}}"  # 555-234-5678
    rf"|(?<!\d\x20)(?:\+?1\x20)?{_NPA}\x20{_NXX}[\x20-]\d{{4}}(?!\x20\d)"  # 555 234 5678
    rf"|(?:\+?1(?:[-.\x20]|(?=\()))?\({_NPA}\)[\x20-]?{_NXX}[-.\x20]\d{{4}}"  # (555) 234-5678
    rf"|\+1\x20?{_NPA}{_NXX}\d{{4}}"  # +15552345678
    rf"|(?P<phone_bare>1?{_NPA}{_NXX}\d{{4}})"
    ")"
    r"(?:\x20?(?i:x|ext\.?|extension)\x20?\d{1,5})?"
)
_BODIES = {"ssn": _SSN, "credit_card": _CARD, "phone_us": _PHONE}

_BARE_GROUPS = {"ssn": "ssn_bare", "phone_us": "phone_bare"}
BARE_TYPES = frozenset(_BARE_GROUPS)
# Words a number may be glued to with a ".": "no.123-45-6789", "Tel.2125550199".
_GLUED_CUES = frozenset({"no", "nr", "num", "nbr", "tel", "ph", "ssn", "sec", "cb", "mob", "cell", "card", "fax"})
_WORD_REVERSED = re.compile(r"[A-Za-z]{1,8}(?![A-Za-z0-9_])")
# An identifier's name right before an unbroken number: "Txn 4000...", "order no. ...".
_ID_BEFORE_REVERSED = re.compile(
    r"[\x20\t]*[:#=]?[\x20\t]*(?:\.?(?:on|mun|rbn|rebmun|di|\#)[\x20\t_]*)?"
    r"(?:nxt|noitcasnart|redro|eciovni|gnikcart|iemi|laires|tnuocca|tcca|fer|ecnerefer|noitamrifnoc|tpiecer"
    r"|gnikoob|kcart)(?![A-Za-z])",
    re.IGNORECASE,
)

# Runs that can hold a digit match: nine or more digits (every SSN, card and phone has
# them), at most two separators in a row, starting at the run's first digit (the
# look-behinds) and never backtracking (possessive).
_SEP = "[ ().+-]"
_DIGIT_RUN = re.compile(
    rf"[0-9](?<![0-9][0-9])(?<![0-9]{_SEP}[0-9])(?<![0-9]{_SEP}{_SEP}[0-9])(?:{_SEP}{{0,2}}+[0-9]){{8,}}+"
)
# A run is scanned with room for "+1 (" before it, the boundary look-ahead after it,
# and a phone extension when one follows.
_RUN_BEFORE, _RUN_AFTER, _EXTENSION_ROOM = 2, 8, 24
_SHORTEST_MATCH = 9  # an SSN's nine digits
_EXTENSION_AHEAD = re.compile(r"\x20?[xXeE]")


def _char_class(chars: str) -> re.Pattern[str]:
    return re.compile("[" + re.escape(chars) + "]")


# Per type: the longest match, a character a match can contain, one it can begin with.
# "+1 (555) 234-5678 extension 12345" is the longest phone; 4-4-4-4-3 the longest card.
_DIGITS = "0123456789"
SHAPES: dict[str, tuple[int, re.Pattern[str], re.Pattern[str]]] = {
    "ssn": (11, _char_class(_DIGITS + " -."), _char_class(_DIGITS)),
    "credit_card": (23, _char_class(_DIGITS + " -."), _char_class(_DIGITS)),
    "phone_us": (34, _char_class(_DIGITS + " ().+-extnsioEXTNSIO"), _char_class(_DIGITS + "(+")),
    "email": (
        EMAIL_MAX_LEN,
        _char_class("".join(sorted(EMAIL_LOCAL_CHARS)) + "@:"),
        _char_class("".join(sorted(EMAIL_LOCAL_CHARS - {"."}))),
    ),
}


@functools.cache
def digit_pattern(types: tuple[str, ...]) -> re.Pattern[str]:
    """One alternation over the digit types in `types`; each match's lastgroup names
    its type (the forms of different types never match the same token)."""
    alternatives = "|".join(f"(?P<{kind}>{_BODIES[kind]})" for kind in types)
    # The look-ahead turns away most positions before the costlier look-behinds run.
    return re.compile(f"(?=[0-9(+]){_LEFT}(?:{alternatives}){_RIGHT}", re.ASCII)


@functools.cache
def candidate_pattern(types: tuple[str, ...]) -> re.Pattern[str]:
    """digit_pattern's matches, for a scan of the whole text: each match is the first
    character of one, whose span is its type's group (lastgroup).

    It starts with the character class it consumes, so the regex engine skips in C to
    the next "0-9(+" instead of trying every position (it cannot skip past a
    look-ahead), then steps back one character to match the candidate as a look-ahead.
    Before the alternation, a cheap necessary condition: every form holds nine digits
    linked by at most two of " ().+-", from its first or second character."""
    alternatives = "|".join(f"(?P<{kind}>{_BODIES[kind]})" for kind in types)
    return re.compile(f"[0-9(+](?<=(?={_LEFT}{_NINE_DIGITS_AHEAD}(?:{alternatives}){_RIGHT})[0-9(+])", re.ASCII)


_NINE_DIGITS_AHEAD = r"(?=[(+]?[0-9](?:[\x20().+-]{0,2}[0-9]){8})"


# Luhn: every second digit from the right is doubled (and 9 taken off past 9).
_DOUBLED = str.maketrans("0123456789", "0246813579")


def luhn_valid(digits: str) -> bool:
    """`digits`: ASCII digits only. Sums their code points, less 48 (the code of "0") for
    each, rather than int() per digit: a third of the time."""
    doubled = digits[-2::-2].translate(_DOUBLED)
    return (sum(digits[-1::-2].encode()) + sum(doubled.encode()) - 48 * len(digits)) % 10 == 0


def scan_digits(
    pattern: re.Pattern[str], text: str, carry: Carry | None = None, candidates: re.Pattern[str] | None = None
) -> list[tuple[str, int, int]]:
    """(type, start, end) of each digit match, in order; `carry`: the structure open at text[0];
    `candidates`: candidate_pattern of the same types (without it: the windowed scan).

    One pass over the whole text with the candidate pattern, judging each candidate
    as _accepted does (inlined: a call per candidate costs). Once a candidate has met
    a table or an INSERT list, the windowed scan takes over from its window, and
    decides the table's rows in bulk where it can (table_rows.py). Without tables
    both find the same: each window holds every match that starts in it, and no match
    starts outside one (each holds nine digits linked by at most two separators)."""
    layout = Layout(text, carry)
    if candidates is None:
        return _scan_windows(pattern, text, layout)
    # A text that opens inside a table (a stream's kept rows) or with a header goes to
    # the windowed scan at once (either finds the same; this spares judging a number
    # twice). The header check is left out for a short text: it would cost more there.
    if (carry is not None and carry.table is not None) or (len(text) >= _TABLE_FIRST_FROM and _table_first(text)):
        return _scan_windows(pattern, text, layout)
    search = candidates.search
    found: list[tuple[str, int, int]] = []
    match = search(text)
    while match is not None:
        kind: str = match.lastgroup  # type: ignore[assignment]  # (each alternative is a named group)
        start, end = match.span(kind)
        if start >= 2 and text[start - 1] == "." and text[start - 2].isalpha() and not _glued_cue(text, start - 1):
            accepted: bool | None = False
        elif kind == "credit_card":
            accepted = _card_accepted(match.group(kind), text, start, end, layout, True)
        elif match.start(_BARE_GROUPS[kind]) == -1:
            accepted = True
        else:
            accepted = _bare_accepted(kind, text, start, end, layout, True)
        if layout.known_regions:  # (a number asked for its column, and there is a table)
            # Taken up by the windowed scan at this number's window, as if it had run from the start.
            return _scan_windows(pattern, text, layout, found, start)
        # A rejected candidate must not hide a match that starts inside it.
        if accepted:
            found.append((kind, start, end))
        match = search(text, end if accepted else start + 1)
    return found


_TABLE_FIRST_FROM = 1024


def _table_first(text: str) -> bool:
    """Cheap: whether the text's first line looks like a table's header (the second
    holds as many of one delimiter)."""
    first = text.find("\n")
    second = text.find("\n", first + 1) if first != -1 else -1
    if second == -1:
        return False
    for delimiter in ",;\t|":
        count = text.count(delimiter, 0, first)
        if count and count == text.count(delimiter, first, second):
            return True
    return False


def _scan_windows(
    pattern: re.Pattern[str],
    text: str,
    layout: Layout,
    found_before: list[tuple[str, int, int]] | None = None,
    resume: int = 0,
) -> list[tuple[str, int, int]]:
    """scan_digits, window by window: only inside windows around runs of nine digits
    and more, and with table rows decided in bulk where they can be.
    `found_before`: the matches before `resume`, the start of the number that first
    met a table; the windows before the one holding it are not searched again, and
    rows are decided in bulk only after it, as when that number's window had met it."""
    search = pattern.search
    found: list[tuple[str, int, int]] = []
    for region in _digit_regions(text, layout, resume if found_before is not None else -1):
        if isinstance(region, Block):
            found += region.found
            continue
        position, region_end = region
        if found_before is not None:
            if region_end <= resume:
                continue  # judged by the whole-text scan
            found = [match for match in found_before if match[1] < position]
            found_before = None
        while (match := search(text, position, region_end)) is not None:
            kind = match.lastgroup
            assert kind is not None
            if _accepted(kind, match, text, layout, True):
                start, position = match.span()
                found.append((kind, start, position))
                if region_end - position < _SHORTEST_MATCH:
                    break  # no room left for another: spares the search that would say so
            else:  # a rejected candidate must not hide a match that starts inside it
                position = match.start() + 1
    return found


def undecided_bare(pattern: re.Pattern[str], text: str, pos: int, carry: Carry | None = None) -> int | None:
    """Start of the first number from `pos` whose verdict depends on text still to
    come (a bare number whose keyword may follow, a field not closed yet)."""
    if not has_digit_run(text, pos):
        return None
    layout = Layout(text, carry)
    while (match := pattern.search(text, pos)) is not None:
        kind = match.lastgroup
        assert kind is not None
        verdict = _accepted(kind, match, text, layout, final=False)
        if verdict is None:
            return match.start()
        pos = match.end() if verdict else match.start() + 1
    return None


def has_digit_run(text: str, pos: int = 0) -> bool:
    """Cheap: whether text[pos:] holds a run of digits a digit match needs."""
    return _DIGIT_RUN.search(text, pos) is not None


def _accepted(kind: str, match: re.Match[str], text: str, layout: Layout, final: bool) -> bool | None:
    """Whether to take a match of digit_pattern (None: that depends on text not seen yet)."""
    start, end = match.span()
    if start >= 2 and text[start - 1] == "." and text[start - 2].isalpha() and not _glued_cue(text, start - 1):
        return False
    if kind == "credit_card":
        return _card_accepted(match.group(), text, start, end, layout, final)
    if match.group(_BARE_GROUPS[kind]) is None:
        return True
    verdict = _field_verdict(kind, text, start, end, layout, final)
    if verdict == "prose":
        return named_by_context(kind, text, start, end)
    return None if verdict == "open" else verdict == "yes"


def _card_accepted(value: str, text: str, start: int, end: int, layout: Layout, final: bool) -> bool | None:
    digits = value if value.isdigit() else value.replace(" ", "").replace("-", "").replace(".", "")
    if _CARD_ISSUERS.fullmatch(digits) is None or not luhn_valid(digits):
        return False
    if value.isdigit():  # unbroken: an identifier's field or name says it is no card
        verdict = _field_verdict("credit_card", text, start, end, layout, final)
        if verdict != "prose":
            return None if verdict == "open" else verdict == "yes"
        if _ID_BEFORE_REVERSED.match(text[max(0, start - 32) : start][::-1]) is not None:
            return False
    return True


def _bare_accepted(kind: str, text: str, start: int, end: int, layout: Layout, final: bool) -> bool | None:
    verdict = _field_verdict(kind, text, start, end, layout, final)
    if verdict == "prose":
        return named_by_context(kind, text, start, end)
    return None if verdict == "open" else verdict == "yes"


def _field_verdict(
    kind: str, text: str, start: int, end: int, layout: Layout, final: bool
) -> Literal["yes", "no", "prose", "open"]:
    """Whether the field the number fills names `kind`: "yes" or "no" when its key
    or column decides, "prose" when neither does, "open" while the field may still
    continue (only when `final` is False: more text is coming)."""
    kinds = key_kinds(text, start)
    if kinds is not None:
        if kind in kinds:
            return "yes"
        closes = field_closes(text, end, final)
        if closes is None:
            return "open"
        if closes and (kind != "credit_card" or ID in kinds):
            return "no"
    column = layout.column(start, end, final)
    if column is None:
        return "open"
    if column is False:
        return "prose"
    if kind == "credit_card":
        return "no" if ID in column else "prose"
    return "yes" if kind in column else "no"


def _glued_cue(text: str, dot: int) -> bool:
    word = _WORD_REVERSED.match(text[max(0, dot - 9) : dot][::-1])
    return word is not None and word.group()[::-1].lower() in _GLUED_CUES


def _digit_regions(text: str, layout: Layout, tables_after: int = -1) -> Iterator[Span | Block]:
    """Merged windows around each digit run that could hold a match, in text order,
    and the blocks of table rows decided in bulk, which no window reaches into (asked
    for after the windows that end past `tables_after`)."""
    tables = TableRows(layout)
    length, extension = len(text), _EXTENSION_AHEAD.match
    position = 0
    while True:
        block: Block | None = None
        window_start = window_end = -1
        for run in _DIGIT_RUN.finditer(text, position):
            run_start, end = run.span()
            if block is not None and run_start >= block.start:
                break  # the block's runs are decided: go on after it
            start = run_start - _RUN_BEFORE if run_start > position + _RUN_BEFORE else position
            end += _EXTENSION_ROOM if extension(text, end) else _RUN_AFTER
            if end > length:
                end = length
            if start <= window_end:
                window_end = max(window_end, end)
                continue
            if window_end >= 0:
                yield window_start, window_end
                # The window's numbers may have met a table (a number asked for its column):
                # its next rows may be decided in bulk.
                if block is None and layout.known_regions and not tables.done and window_end > tables_after:
                    block = tables.block_after(window_end)
                    if block is not None and run_start >= block.start:
                        window_end = -1
                        break
            window_start, window_end = start, end
        if window_end >= 0:
            yield window_start, window_end if block is None else min(window_end, block.start)
        if block is None:
            return
        yield block
        position = block.end
