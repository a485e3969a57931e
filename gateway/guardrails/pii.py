"""PII detection: US Social Security numbers, payment card numbers, email addresses
and US phone numbers, plus operator-configured named patterns.

Every detector anchors on token boundaries: a digit that continues a longer number
(directly, or through a separator such as ``-`` or ``.``) never starts or ends a match,
so order ids, part numbers, ZIP+4 codes and ISBNs are not taken apart. Numbers that
are ambiguous on their own (nine or ten bare digits) count only after a word that
says what they are ("SSN", "phone", ...).

Speed: the digit detectors run only inside clusters of digits and separators, found
with one cheap scan; the email detector runs only from each ``@``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from gateway.guardrails.pattern_shape import pattern_shape

PII_TYPES = ("ssn", "credit_card", "email", "phone_us")

# Hold-back bound for a custom pattern whose matches are unbounded or longer.
CUSTOM_MAX_MATCH_LEN = 256

_CUSTOM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}\Z")

# No letter, digit or underscore touches a match, directly or through - or .
_LEFT = r"(?<![A-Za-z0-9_])(?<![A-Za-z0-9_][-.])"
_RIGHT = r"(?![A-Za-z0-9_])(?![-.][A-Za-z0-9_])"

# SSN area, group and serial rules: no 000/666/9xx area, no 00 group, no 0000 serial.
_AREA, _GROUP, _SERIAL = r"(?!000|666|9)\d{3}", r"(?!00)\d{2}", r"(?!0000)\d{4}"
_SSN = re.compile(
    _LEFT
    + "(?:"
    + rf"{_AREA}-{_GROUP}-{_SERIAL}"
    + rf"|(?<!\d\x20){_AREA}\x20{_GROUP}\x20{_SERIAL}(?!\x20\d)"  # spaces: not mid-list
    + rf"|(?P<bare>{_AREA}{_GROUP}{_SERIAL})"
    + ")"
    + _RIGHT,
    re.ASCII,
)
_SSN_CONTEXT = re.compile(r"\b(?:ssn|ss\s?\#|social|soc\.?\s?sec|tax(?:payer)?\s+id)", re.ASCII | re.IGNORECASE)

# Card layouts as printed and typed: 4-4-4-4(-1..3), 4-4-4-1..3, and 4-6-4/5 (Amex,
# Diners); or 13-19 digits unbroken. One separator kind per number.
_CARD_GROUPS = (
    r"\d{{4}}{s}\d{{4}}{s}\d{{4}}{s}(?:\d{{4}}(?:{s}\d{{1,3}}(?![\d/]))?|\d{{1,3}})"  # "/": an expiry follows
    r"|\d{{4}}{s}\d{{6}}{s}\d{{4,5}}"
)
_CARD = re.compile(
    _LEFT
    + r"(?:\d{13,19}"
    + "|(?:"
    + _CARD_GROUPS.format(s="-")
    + ")"
    # Spaced: not mid-list, but "4111 1111 1111 1111 12/29" carries its expiry.
    + r"|(?<!\d\x20)(?:"
    + _CARD_GROUPS.format(s=r"\x20")
    + r")(?!\x20\d{1,6}(?![\d/]))"
    + ")"
    + _RIGHT,
    re.ASCII,
)
# Major networks: Mastercard 2-series, Amex/Diners/JCB, Visa, Mastercard/Maestro,
# Discover/UnionPay. ISBN-13s (978/979) and the 1/7/8/9-led ids in the wild fall out.
_CARD_LEADING_DIGITS = frozenset("23456")

# NANP: area code and exchange do not start with 0 or 1.
_NPA, _NXX = r"[2-9]\d{2}", r"[2-9]\d{2}"
_PHONE = re.compile(
    _LEFT
    + "(?:"
    + rf"(?:\+?1[-.\x20])?{_NPA}(?P<sep>[-.]){_NXX}(?P=sep)\d{{4}}"  # 555-123-4567
    + rf"|(?<!\d\x20)(?:\+?1\x20)?{_NPA}\x20{_NXX}[\x20-]\d{{4}}(?!\x20\d)"  # 555 123 4567
    + rf"|(?:\+?1(?:[-.\x20]|(?=\()))?\({_NPA}\)[\x20-]?{_NXX}[-.\x20]\d{{4}}"  # (555) 123-4567
    + rf"|\+1\x20?{_NPA}{_NXX}\d{{4}}"  # +15551234567
    + rf"|(?P<bare>1?{_NPA}{_NXX}\d{{4}})"
    + ")"
    + r"(?:\x20?(?i:x|ext\.?|extension)\x20?\d{1,5})?"
    + _RIGHT,
    re.ASCII,
)
_PHONE_CONTEXT = re.compile(
    r"\b(?:phone|tel|mobile|cell|call|text|sms|fax|whatsapp|contact|dial|reach|voicemail|hotline"
    r"|(?:my|your|his|her|their|our)\s+number)",
    re.ASCII | re.IGNORECASE,
)
# A bare number's keyword lies within this many characters, in the same sentence and
# with no other number in between ("phone 5552345678, order 5552345678").
_CONTEXT_WINDOW = 48
# A number already named as something else is not renamed by a keyword after it:
# "Order 5552345678 shipped; call us if it is late."
_ID_NOUNS = re.compile(
    r"\b(?:order|invoice|ticket|case|account|acct|tracking|ref|reference|id|confirmation|transaction"
    r"|txn|receipt|booking|reservation|policy|claim|member|routing|serial|part|sku|batch|isbn|item)\b",
    re.ASCII | re.IGNORECASE,
)
_SENTENCE_BREAK = re.compile(r"[?!]\s|\.\s+(?=[A-Z])|\n\s*\n")
_NUMBER = re.compile(r"(?<![A-Za-z0-9_])[0-9]+")  # not the digits of "David1992"

# Candidate regions for the digit detectors: 9+ characters of digits and separators.
_DIGIT_CLUSTER = re.compile(r"[0-9][0-9 ().+-]{7,}[0-9]")
_CLUSTER_BEFORE = 2  # room for "+" or "(" before the first digit
_CLUSTER_AFTER = 24  # room for a phone extension and the boundary look-ahead

_EMAIL_DOMAIN = re.compile(
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}"
    r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})(?![A-Za-z0-9])(?!:\S)",  # not git@host:path
)
_EMAIL_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_%+-.")
# Matched on the reversed text before the "@": dot-separated atoms, at most 64 chars.
_EMAIL_LOCAL_REVERSED = re.compile(r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*")
_EMAIL_LOCAL_MAX, _EMAIL_MAX = 64, 254


@dataclass(frozen=True, slots=True)
class Finding:
    type: str
    start: int
    end: int


Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class _Rule:
    type: str
    scan: Callable[[str, int, int], Iterator[Span]]  # (text, pos, endpos) -> spans
    # (text, pos) -> start of a match found from pos whose keyword may still follow
    undecided: Callable[[str, int], int | None] | None
    in_digit_clusters: bool  # every match lies in a _DIGIT_CLUSTER region
    max_len: int
    body: re.Pattern[str] | None  # one character a match can contain; None: any
    start: re.Pattern[str] | None  # one character a match can begin with; None: any


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _named_by_context(keywords: re.Pattern[str], text: str, start: int, end: int) -> bool | None:
    """Whether a keyword names the bare number text[start:end]; None while the
    answer depends on text not seen yet (the window after the number is open)."""
    before = max(0, start - _CONTEXT_WINDOW)
    for number in _NUMBER.finditer(text, before, start):
        before = number.end()
    for sentence_break in _SENTENCE_BREAK.finditer(text, before, start):
        before = sentence_break.end()
    if keywords.search(text, before, start) is not None:
        return True
    if _ID_NOUNS.search(text, before, start) is not None:
        return False
    after = min(len(text), end + _CONTEXT_WINDOW)
    closed = after - end == _CONTEXT_WINDOW
    for stop in (_NUMBER.search(text, end, after), _SENTENCE_BREAK.search(text, end, after)):
        if stop is not None and stop.start() < after:
            after, closed = stop.start(), True
    if keywords.search(text, end, after) is not None:
        return True
    return False if closed else None


def _scan_bare_aware(pattern: re.Pattern[str], keywords: re.Pattern[str]) -> Callable[[str, int, int], Iterator[Span]]:
    def scan(text: str, pos: int, endpos: int) -> Iterator[Span]:
        for match in pattern.finditer(text, pos, endpos):
            if match.group("bare") is None or _named_by_context(keywords, text, *match.span()):
                yield match.span()

    return scan


def _undecided_bare(pattern: re.Pattern[str], keywords: re.Pattern[str]) -> Callable[[str, int], int | None]:
    def undecided(text: str, pos: int) -> int | None:
        for match in pattern.finditer(text, pos):
            if match.group("bare") is not None and _named_by_context(keywords, text, *match.span()) is None:
                return match.start()
        return None

    return undecided


def _scan_card(text: str, pos: int, endpos: int) -> Iterator[Span]:
    for match in _CARD.finditer(text, pos, endpos):
        candidate = match.group()
        digits = candidate.replace(" ", "").replace("-", "")
        if digits[0] in _CARD_LEADING_DIGITS and luhn_valid(digits):
            yield match.span()


def _scan_email(text: str, pos: int, endpos: int) -> Iterator[Span]:
    at = text.find("@", pos, endpos)
    while at != -1:
        domain = _EMAIL_DOMAIN.match(text, at, endpos)
        if domain is not None and at > pos:
            window = text[max(pos, at - _EMAIL_LOCAL_MAX - 1) : at][::-1]
            local = _EMAIL_LOCAL_REVERSED.match(window)
            if local is not None:
                start = at - local.end()
                if (
                    local.end() <= _EMAIL_LOCAL_MAX
                    and (start == 0 or text[start - 1] not in _EMAIL_LOCAL_CHARS)
                    and domain.end() - start <= _EMAIL_MAX
                ):
                    yield start, domain.end()
        at = text.find("@", at + 1, endpos)


def _char_class(chars: str) -> re.Pattern[str]:
    return re.compile("[" + re.escape(chars) + "]")


_DIGITS = "0123456789"
_BUILTIN_RULES = {
    "ssn": _Rule(
        "ssn",
        _scan_bare_aware(_SSN, _SSN_CONTEXT),
        _undecided_bare(_SSN, _SSN_CONTEXT),
        True,
        11,
        _char_class(_DIGITS + " -."),
        _char_class(_DIGITS),
    ),
    "credit_card": _Rule("credit_card", _scan_card, None, True, 23, _char_class(_DIGITS + " -."), _char_class(_DIGITS)),
    # "+1 (555) 123-4567 extension 12345" is the longest written form.
    "phone_us": _Rule(
        "phone_us",
        _scan_bare_aware(_PHONE, _PHONE_CONTEXT),
        _undecided_bare(_PHONE, _PHONE_CONTEXT),
        True,
        34,
        _char_class(_DIGITS + " ().+-extnsioEXTNSIO"),
        _char_class(_DIGITS + "(+"),
    ),
    "email": _Rule(
        "email",
        _scan_email,
        None,
        False,
        _EMAIL_MAX,
        _char_class("".join(sorted(_EMAIL_LOCAL_CHARS)) + "@:"),
        _char_class("".join(sorted(_EMAIL_LOCAL_CHARS - {"."}))),
    ),
}


def _custom_rule(name: str, source: str) -> _Rule:
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

    def scan(text: str, pos: int, endpos: int) -> Iterator[Span]:
        for match in pattern.finditer(text, pos, endpos):
            yield match.span()

    return _Rule(name, scan, None, False, max_len, shape.chars, shape.chars)


class PiiDetector:
    """Finds PII of the configured types; immutable and safe to share across requests."""

    def __init__(self, types: Iterable[str] = PII_TYPES, custom: Mapping[str, str] | None = None) -> None:
        wanted = list(types)
        unknown = [name for name in wanted if name not in _BUILTIN_RULES]
        if unknown:
            raise ValueError(f"unknown PII types {unknown}; known: {list(PII_TYPES)}")
        rules = [_BUILTIN_RULES[name] for name in PII_TYPES if name in wanted]
        rules += [_custom_rule(name, source) for name, source in (custom or {}).items()]
        self._rules = tuple(rules)
        self._digit_rules = tuple(rule for rule in rules if rule.in_digit_clusters)
        self._other_rules = tuple(rule for rule in rules if not rule.in_digit_clusters)
        self._tags = {rule.type: f"[REDACTED-{rule.type.upper()}]" for rule in rules}
        self.types: tuple[str, ...] = tuple(rule.type for rule in rules)
        self.max_match_len: int = max((rule.max_len for rule in rules), default=0)

    def find(self, text: str) -> list[Finding]:
        """Sorted, non-overlapping findings; on overlap the earlier, then longer, wins."""
        spans: list[tuple[int, int, int, str]] = []
        for order, rule in enumerate(self._other_rules):
            if rule.type == "email" and "@" not in text:
                continue
            for start, end in rule.scan(text, 0, len(text)):
                spans.append((start, -end, order, rule.type))
        if self._digit_rules:
            for region_start, region_end in _digit_regions(text):
                for order, rule in enumerate(self._digit_rules, len(self._other_rules)):
                    for start, end in rule.scan(text, region_start, region_end):
                        spans.append((start, -end, order, rule.type))
        spans.sort()
        findings: list[Finding] = []
        covered = 0
        for start, negative_end, _order, kind in spans:
            if start >= covered:
                findings.append(Finding(kind, start, -negative_end))
                covered = -negative_end
        return findings

    def tag(self, pii_type: str) -> str:
        """The replacement text for a finding of `pii_type`, e.g. [REDACTED-CREDIT_CARD]."""
        return self._tags[pii_type]

    def redact(self, text: str) -> tuple[str, list[Finding]]:
        findings = self.find(text)
        if not findings:
            return text, findings
        parts: list[str] = []
        position = 0
        for finding in findings:
            parts.append(text[position : finding.start])
            parts.append(self._tags[finding.type])
            position = finding.end
        parts.append(text[position:])
        return "".join(parts), findings

    def holdback(self, text: str) -> int:
        """How many trailing characters of `text` could begin a match that more text
        would complete; a stream must not emit them yet."""
        held = 0
        for rule in self._rules:
            if rule.undecided is not None:
                waiting = rule.undecided(text, max(0, len(text) - _CONTEXT_WINDOW - rule.max_len))
                if waiting is not None:
                    held = max(held, len(text) - waiting)
            limit = min(len(text), rule.max_len - 1)
            if limit <= held:
                continue
            tail = text[len(text) - limit :]
            if rule.body is None or rule.start is None:
                held = limit
                continue
            run = len(tail)
            for index in range(len(tail) - 1, -1, -1):
                if not rule.body.match(tail, index):
                    run = len(tail) - 1 - index
                    break
            first = rule.start.search(tail, len(tail) - run)
            if first is not None:
                held = max(held, len(tail) - first.start())
        return held


def _digit_regions(text: str) -> Iterator[Span]:
    """Merged windows around each digit cluster, wide enough for a phone's "+1 ("
    prefix, its extension and the boundary look-around."""
    region_start = region_end = -1
    for cluster in _DIGIT_CLUSTER.finditer(text):
        start = max(0, cluster.start() - _CLUSTER_BEFORE)
        end = min(len(text), cluster.end() + _CLUSTER_AFTER)
        if start <= region_end:
            region_end = end
            continue
        if region_end >= 0:
            yield region_start, region_end
        region_start, region_end = start, end
    if region_end >= 0:
        yield region_start, region_end
