"""Durations as operators type them: `90s`, `15m`, `1h`, `30d`, `2w`.

A unit is required: a bare `30` was read as 30 seconds, which nobody who typed it for a key's
expiry meant. Expiries must be positive (a zero expiry once meant "never expires"); a grace
period may be zero.
"""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_DURATION = timedelta(days=3650)
_FORMS = "a number with a unit: 90s, 15m, 1h, 30d or 2w"


def parse_duration(text: object, *, allow_zero: bool = False) -> timedelta:
    """A duration from `text`; ValueError naming the accepted forms otherwise."""
    if allow_zero and (text == 0 and not isinstance(text, bool)):
        return timedelta(0)             # zero needs no unit
    if not isinstance(text, str):
        raise ValueError(f"a duration is {_FORMS} (a bare number is ambiguous)")
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration: use {_FORMS}")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds == 0 and not allow_zero:
        raise ValueError(f"{text!r}: a duration must be more than zero")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError("a duration must be at most 3650 days")
    return timedelta(seconds=seconds)
