"""What a request is compared on, and what must match exactly first.

The key text is the last user turn, as it reaches the provider (after PII redaction): the
question being asked. Everything else -- the system prompt, the earlier turns, the model,
and every answer-changing parameter (temperature, seed, tools, response_format, ...) --
forms the *partition*: the exact-cache key of the request with that turn left out. A
semantic match is only looked for among entries of the same partition, so a paraphrase
hits only when everything around it is identical.

Skipped (exact cache only): a conversation of more than `max_messages` messages (the
system prompt not counted) -- a late turn depends on context the embedding does not see;
a last turn that is not the user's, is empty, holds anything but text (an image, audio),
or is longer than `max_chars`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.cache.keys import cache_key

_LAST_TURN = "\x00semantic-key-text\x00"


@dataclass(frozen=True, slots=True)
class KeyText:
    text: str          # the last user turn, whitespace-normalised
    partition: str     # cache_key of the request without it


def key_text(scope: str, model: str, body: dict[str, Any], *, max_messages: int, max_chars: int) -> KeyText | None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    turns = [m for m in messages if not (isinstance(m, dict) and m.get("role") in ("system", "developer"))]
    if len(turns) > max_messages:
        return None
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "user":
        return None
    text = _text_of(last.get("content"))
    if text is None:
        return None
    text = " ".join(text.split())
    if not text or len(text) > max_chars:
        return None
    without = {**body, "messages": [*messages[:-1], {**last, "content": _LAST_TURN}]}
    return KeyText(text=text, partition=cache_key(scope, model, without))


def _text_of(content: object) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                return None         # an image, audio or file part: the text alone is not the question
            parts.append(part["text"])
        return "\n".join(parts)
    return None
