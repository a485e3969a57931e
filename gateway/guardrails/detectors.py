"""The built-in PII patterns: US Social Security numbers, payment card numbers, US
phone numbers and email addresses, with the checks a regular expression cannot make
(Luhn, issuer, the keyword that names a bare number).

Every digit pattern anchors on token boundaries: a digit that continues a longer
number (directly, or through ``-`` or ``.``) never starts or ends a match, so order
ids, part numbers, ZIP+4 codes and ISBNs are not taken apart. Nine or ten bare digits
count only when a keyword in the same sentence names them ("SSN", "phone", ...).

Speed: the three digit patterns run as one alternation, and only inside runs of at
least nine digits found by one cheap scan; the email pattern runs only from an "@".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

Span = tuple[int, int]
DIGIT_TYPES = ("ssn", "credit_card", "phone_us")

# No letter, digit or underscore touches a match, directly or through - or .
_LEFT = r"(?<![A-Za-z0-9_])(?<![A-Za-z0-9_][-.])"
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
_CARD_DASHED, _CARD_SPACED = _CARD_GROUPS.format(s="-"), _CARD_GROUPS.format(s=r"\x20")
_CARD = rf"\d{{13,19}}|(?:{_CARD_DASHED})|(?<!\d\x20)(?:{_CARD_SPACED})(?!\x20\d{{1,6}}(?![\d/]))"
# Visa, Mastercard (2- and 5-series), Amex, Diners, JCB, Discover, UnionPay, Maestro.
# ISBN-13s (978/979) and the 1/7/8/9-led numbers of other schemes fall out.
_CARD_LEADING_DIGITS = frozenset("23456")

# NANP: the area code and the exchange do not start with 0 or 1.
_NPA = _NXX = r"[2-9]\d{2}"
_PHONE = (
    "(?:"
    rf"(?:\+?1[-.\x20])?{_NPA}(?P<phone_sep>[-.]){_NXX}(?P=phone_sep)\d{{4}}"  # 555-234-5678
    rf"|(?<!\d\x20)(?:\+?1\x20)?{_NPA}\x20{_NXX}[\x20-]\d{{4}}(?!\x20\d)"  # 555 234 5678
    rf"|(?:\+?1(?:[-.\x20]|(?=\()))?\({_NPA}\)[\x20-]?{_NXX}[-.\x20]\d{{4}}"  # (555) 234-5678
    rf"|\+1\x20?{_NPA}{_NXX}\d{{4}}"  # +15552345678
    rf"|(?P<phone_bare>1?{_NPA}{_NXX}\d{{4}})"
    ")"
    r"(?:\x20?(?i:x|ext\.?|extension)\x20?\d{1,5})?"
)
_BODIES = {"ssn": _SSN, "credit_card": _CARD, "phone_us": _PHONE}

_KEYWORDS = {
    "ssn": re.compile(r"\b(?:ssn|ss\s?\#|social|soc\.?\s?sec|tax(?:payer)?\s+id)", re.ASCII | re.IGNORECASE),
    "phone_us": re.compile(
        r"\b(?:phone|tel|mobile|cell|call|text|sms|fax|whatsapp|contact|dial|reach|voicemail|hotline"
        r"|(?:my|your|his|her|their|our)\s+number)",
        re.ASCII | re.IGNORECASE,
    ),
}
_BARE_GROUPS = {"ssn": "ssn_bare", "phone_us": "phone_bare"}
BARE_TYPES = frozenset(_BARE_GROUPS)
# A bare number's keyword lies within this many characters, in the same sentence,
# with no other number in between ("phone 5552345678, order 5552345678").
CONTEXT_WINDOW = 48
# A number already named as something else is not renamed by a keyword after it:
# "Order 5552345678 shipped; call us if it is late."
_ID_NOUNS = re.compile(
    r"\b(?:order|invoice|ticket|case|account|acct|tracking|ref|reference|id|confirmation|transaction"
    r"|txn|receipt|booking|reservation|policy|claim|member|routing|serial|part|sku|batch|isbn|item)\b",
    re.ASCII | re.IGNORECASE,
)
_SENTENCE_BREAK = re.compile(r"[?!]\s|\.\s+(?=[A-Z])|\n\s*\n")
_NUMBER = re.compile(r"(?<![A-Za-z0-9_])[0-9]+")  # not the digits of "David1992"

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
_EXTENSION_AHEAD = re.compile(r"\x20?[xXeE]")

_EMAIL_DOMAIN = re.compile(
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}"
    r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})(?![A-Za-z0-9])(?!:\S)",  # not git@host:path
)
_EMAIL_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_%+-.")
# Matched on the reversed text before the "@": dot-separated atoms.
_EMAIL_LOCAL_REVERSED = re.compile(r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*")
_EMAIL_LOCAL_MAX, EMAIL_MAX_LEN = 64, 254


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
        _char_class("".join(sorted(_EMAIL_LOCAL_CHARS)) + "@:"),
        _char_class("".join(sorted(_EMAIL_LOCAL_CHARS - {"."}))),
    ),
}


@functools.cache
def digit_pattern(types: tuple[str, ...]) -> re.Pattern[str]:
    """One alternation over the digit types in `types`; each match's lastgroup names
    its type (the forms of different types never match the same token)."""
    alternatives = "|".join(f"(?P<{kind}>{_BODIES[kind]})" for kind in types)
    # The look-ahead turns away most positions before the costlier look-behinds run.
    return re.compile(f"(?=[0-9(+]){_LEFT}(?:{alternatives}){_RIGHT}", re.ASCII)


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def scan_digits(pattern: re.Pattern[str], text: str) -> Iterator[tuple[str, int, int]]:
    for region_start, region_end in _digit_regions(text):
        position = region_start
        while (match := pattern.search(text, position, region_end)) is not None:
            kind = match.lastgroup
            assert kind is not None
            if _accepted(kind, match, text):
                yield kind, match.start(), match.end()
                position = match.end()
            else:  # a rejected candidate must not hide a match that starts inside it
                position = match.start() + 1


def undecided_bare(pattern: re.Pattern[str], text: str, pos: int) -> int | None:
    """Start of the first bare number from `pos` whose keyword may still follow."""
    if not has_digit_run(text, pos):
        return None
    while (match := pattern.search(text, pos)) is not None:
        kind = match.lastgroup
        assert kind is not None
        if kind in _BARE_GROUPS and match.group(_BARE_GROUPS[kind]) is not None:
            named = _named_by_context(kind, text, *match.span())
            if named is None:
                return match.start()
            pos = match.end() if named else match.start() + 1
        else:
            pos = match.end() if _accepted(kind, match, text) else match.start() + 1
    return None


def has_digit_run(text: str, pos: int = 0) -> bool:
    """Cheap: whether text[pos:] holds a run of digits a digit match needs."""
    return _DIGIT_RUN.search(text, pos) is not None


def _accepted(kind: str, match: re.Match[str], text: str) -> bool:
    if kind == "credit_card":
        digits = match.group().replace(" ", "").replace("-", "")
        return digits[0] in _CARD_LEADING_DIGITS and luhn_valid(digits)
    bare = match.group(_BARE_GROUPS[kind]) is not None
    return not bare or bool(_named_by_context(kind, text, *match.span()))


def scan_email(text: str) -> Iterator[Span]:
    at = text.find("@")
    while at != -1:
        domain = _EMAIL_DOMAIN.match(text, at)
        if domain is not None:
            local = _EMAIL_LOCAL_REVERSED.match(text[max(0, at - _EMAIL_LOCAL_MAX - 1) : at][::-1])
            if local is not None:
                start = at - local.end()
                if (
                    local.end() <= _EMAIL_LOCAL_MAX
                    and (start == 0 or text[start - 1] not in _EMAIL_LOCAL_CHARS)
                    and domain.end() - start <= EMAIL_MAX_LEN
                ):
                    yield start, domain.end()
        at = text.find("@", at + 1)


def _named_by_context(kind: str, text: str, start: int, end: int) -> bool | None:
    """Whether a keyword names the bare number text[start:end]; None while the
    answer depends on text not seen yet (the window after the number is open)."""
    keywords = _KEYWORDS[kind]
    before = max(0, start - CONTEXT_WINDOW)
    for number in _NUMBER.finditer(text, before, start):
        before = number.end()
    for sentence_break in _SENTENCE_BREAK.finditer(text, before, start):
        before = sentence_break.end()
    if keywords.search(text, before, start) is not None:
        return True
    if _ID_NOUNS.search(text, before, start) is not None:
        return False
    after = min(len(text), end + CONTEXT_WINDOW)
    closed = after - end == CONTEXT_WINDOW
    for stop in (_NUMBER.search(text, end, after), _SENTENCE_BREAK.search(text, end, after)):
        if stop is not None and stop.start() < after:
            after, closed = stop.start(), True
    if keywords.search(text, end, after) is not None:
        return True
    return False if closed else None


def _digit_regions(text: str) -> Iterator[Span]:
    """Merged windows around each digit run that could hold a match."""
    region_start = region_end = -1
    for run in _DIGIT_RUN.finditer(text):
        start = max(0, run.start() - _RUN_BEFORE)
        after = _EXTENSION_ROOM if _EXTENSION_AHEAD.match(text, run.end()) else _RUN_AFTER
        end = min(len(text), run.end() + after)
        if start <= region_end:
            region_end = max(region_end, end)
            continue
        if region_end >= 0:
            yield region_start, region_end
        region_start, region_end = start, end
    if region_end >= 0:
        yield region_start, region_end
