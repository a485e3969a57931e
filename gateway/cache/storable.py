"""Which answers the cache keeps: successful, complete ones that a repeat of the request
may be given instead of asking a model again.

- every choice the request asked for (`n`) is there and finished;
- each finished for a reason a repeat would share: `stop`, `length` (max_tokens is part
  of the key, so the same cut), `tool_calls`;
- not `content_filter`: a filtered answer is a partial one, and filtering can change
  between calls; nor the legacy `function_call`, which a replayed stream cannot carry.
Errors, cut and abandoned streams never reach this check: they have no completion."""

from __future__ import annotations

from typing import Any

STORABLE_FINISH_REASONS = frozenset({"stop", "length", "tool_calls"})


def requested_choices(body: dict[str, Any]) -> int:
    n = body.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1


def storable(completion: dict[str, Any], choices: int = 1) -> bool:
    found = completion.get("choices")
    if not isinstance(found, list) or len(found) != choices:
        return False
    indexes = set()
    for choice in found:
        if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
            return False
        if choice.get("finish_reason") not in STORABLE_FINISH_REASONS:
            return False
        indexes.add(choice.get("index", 0))
    return indexes == set(range(choices))
