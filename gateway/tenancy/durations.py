"""Durations as operators type them: `90s`, `15m`, `1h`, `30d`, `2w` (or plain seconds)."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_DURATION = timedelta(days=3650)


def parse_duration(text: str | int | float) -> timedelta:
    """A non-negative duration; ValueError naming the accepted forms otherwise."""
    if isinstance(text, bool):
        raise ValueError("a duration is a number of seconds or a string like 90s, 15m, 1h, 30d")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _DURATION.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not a duration (use e.g. 90s, 15m, 1h, 30d, 2w)")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 0 or seconds > MAX_DURATION.total_seconds():
        raise ValueError("a duration must be between 0 and 3650 days")
    return timedelta(seconds=seconds)
