"""Token estimates without a tokenizer download (tiktoken's encodings cannot be fetched
here). Used to size reservations before the call; real usage from the provider replaces
the estimate at charge time, so this only needs to be close and never zero."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# ~4 characters per token is OpenAI's own rule of thumb for English; a message costs a few
# tokens of framing on top of its text.
CHARS_PER_TOKEN = 4
_CHARS_PER_TOKEN = CHARS_PER_TOKEN
_PER_MESSAGE = 4


def tokens_for_chars(chars: int) -> int:
    return (chars + _CHARS_PER_TOKEN - 1) // _CHARS_PER_TOKEN


def estimate_text_tokens(text: str) -> int:
    return tokens_for_chars(len(text))


def iter_message_text(messages: Iterable[Any]) -> Iterable[str]:
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            yield content
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    yield part["text"]
        calls = message.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                yield function["arguments"]


def estimate_prompt_tokens(messages: Iterable[Any]) -> int:
    count = 0
    total = 0
    for text in iter_message_text(messages):
        total += estimate_text_tokens(text)
        count += 1
    return total + _PER_MESSAGE * max(count, 1)


def embedding_inputs(body: dict[str, Any]) -> list[str]:
    """The texts of an embeddings request (`input`: a string or a list of strings; token
    arrays are counted by the provider, not here)."""
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []
