"""Email addresses as PII detection finds them: a domain after each "@", then the
local part read backwards from it (the regex engine only runs where an "@" is)."""

from __future__ import annotations

import re
from collections.abc import Iterator

_EMAIL_DOMAIN = re.compile(
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}"
    r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})(?![A-Za-z0-9])(?!:\S)",  # not git@host:path
)
EMAIL_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_%+-.")
# Matched on the reversed text before the "@": dot-separated atoms.
_EMAIL_LOCAL_REVERSED = re.compile(r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*")
_EMAIL_LOCAL_MAX, EMAIL_MAX_LEN = 64, 254


def scan_email(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each address, in order (two may overlap: "a@b.co@c.io")."""
    at = text.find("@")
    while at != -1:
        domain = _EMAIL_DOMAIN.match(text, at)
        if domain is not None:
            local = _EMAIL_LOCAL_REVERSED.match(text[max(0, at - _EMAIL_LOCAL_MAX - 1) : at][::-1])
            if local is not None:
                start = at - local.end()
                if (
                    local.end() <= _EMAIL_LOCAL_MAX
                    and (start == 0 or text[start - 1] not in EMAIL_LOCAL_CHARS)
                    and domain.end() - start <= EMAIL_MAX_LEN
                ):
                    yield start, domain.end()
        at = text.find("@", at + 1)
