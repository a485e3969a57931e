"""The words around a bare number (nine or ten digits with no separator): a keyword in
the same sentence names it ("SSN", "SS No.", "cb", "my number" ...), an identifier's
noun before it says it is something else ("order", "invoice" ...).

Speed: Python's regex engine tries a pattern at every position of the text unless the
pattern begins with a character it consumes, which it then skips to in C. The
searches below run over a window around each bare number, so each keyword pattern is
written to begin with the letters its words begin with, then to step back one
character and look for the word itself (only whether one is there is asked).
"""

from __future__ import annotations

import re

# A bare number's keyword lies within this many characters, in the same sentence,
# with no other number in between ("phone 5552345678, order 5552345678").
CONTEXT_WINDOW = 48


def _words(source: str, first: str) -> re.Pattern[str]:
    """Where `source` (ASCII, case-insensitive) matches: a match of the result starts
    at each position one of `source` starts at; `first`: the letters (either case)
    its matches can begin with. Its span is the first character only."""
    letters = first.lower() + first.upper()
    return re.compile(f"[{letters}](?<=(?=(?i:{source}))[{letters}])", re.ASCII)


_KEYWORDS = {
    "ssn": _words(r"\b(?:ssn|ss\s?\#|ss\.?\s?(?:no|num|nbr)\b|s\.s\.n\b|social|soc\.?\s?sec|tax(?:payer)?\s+id)", "st"),
    "phone_us": _words(
        r"\b(?:phone|tel|mobile|cell|call|text|sms|fax|whatsapp|contact|dial|reach|voicemail|hotline"
        r"|cb\b|ph\b|mob\b|(?:my|your|his|her|their|our)\s+number)",
        "ptmcsfwdrvhyo",
    ),
}
# A number already named as something else is not renamed by a keyword after it:
# "Order 5552345678 shipped; call us if it is late."
_ID_NOUNS = _words(
    r"\b(?:order|invoice|ticket|case|account|acct|tracking|ref|reference|id|confirmation|transaction"
    r"|txn|receipt|booking|reservation|policy|claim|member|routing|serial|part|sku|batch|isbn|item"
    r"|mrn|npi|imei|employee|emp)\b",
    "oitcarbpmsne",
)
# "? ", "! ", ". " before a capital, or a blank line; the character first (see above).
_SENTENCE_BREAK = re.compile(r"[?!.\n](?:(?<=[?!])\s|(?<=\.)\s+(?=[A-Z])|(?<=\n)\s*\n)")
# Not the "." of an abbreviation a cue is written with: "Soc. Sec. No.", "S.S.N.", "Tel."
_ABBREVIATION = re.compile(r"(?<![A-Za-z])(?:[A-Za-z]|[Nn]o|[Nn]r|[Pp]h|[Ss]oc|[Ss]ec|[Tt]el)\Z")
# Not the digits of "David1992" (the look-behind spans the first digit).
_NUMBER = re.compile(r"[0-9](?<![A-Za-z0-9_][0-9])[0-9]*")


def named_by_context(kind: str, text: str, start: int, end: int) -> bool | None:
    """Whether a keyword names the bare number text[start:end] of type `kind` ("ssn",
    "phone_us"); None while the answer depends on text not seen yet (the window after
    the number is open)."""
    keywords = _KEYWORDS[kind]
    before = max(0, start - CONTEXT_WINDOW)
    for number in _NUMBER.finditer(text, before, start):
        before = number.end()
    for sentence_break in _SENTENCE_BREAK.finditer(text, before, start):
        if not _abbreviated(text, sentence_break.start()):
            before = sentence_break.end()
    if keywords.search(text, before, start) is not None:
        return True
    if _ID_NOUNS.search(text, before, start) is not None:
        return False
    after = min(len(text), end + CONTEXT_WINDOW)
    closed = after - end == CONTEXT_WINDOW
    sentence_end = next(
        (b.start() for b in _SENTENCE_BREAK.finditer(text, end, after) if not _abbreviated(text, b.start())), None
    )
    next_number = _NUMBER.search(text, end, after)
    for stop in (next_number.start() if next_number else None, sentence_end):
        if stop is not None and stop < after:
            after, closed = stop, True
    if keywords.search(text, end, after) is not None:
        return True
    return False if closed else None


def _abbreviated(text: str, dot: int) -> bool:
    return text[dot] == "." and _ABBREVIATION.search(text, max(0, dot - 4), dot) is not None
