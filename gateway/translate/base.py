"""What every client-API translation shares: the stream renderer protocol (the one the
request path relays through, re-exported by gateway/api/shape.py) and small readers of the
chat shape."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol

import orjson

from gateway.errors import GatewayError, InvalidRequest
from providers.base import ChatChunk

JSON = dict[str, Any]


class StreamRenderer(Protocol):
    """One streamed answer in a client API's server-sent events (may keep state: sequence
    numbers, open blocks). `chunk` gets every (already redacted) chunk, the usage-only
    trailer too; `end` is called once after the last one, `error` instead of `end` when the
    upstream failed after the first byte."""

    def chunk(self, chunk: ChatChunk) -> bytes | None:
        """The bytes to send for one chunk; None to send nothing."""

    def end(self) -> bytes:
        """The events that close a completed stream."""

    def error(self, error: GatewayError) -> bytes:
        """The event that ends a stream which failed after its first byte."""


def new_id(prefix: str) -> str:
    return f"{prefix}{os.urandom(12).hex()}"


def named_event(name: str, data: Mapping[str, Any]) -> bytes:
    """One server-sent event with an `event:` line (the Responses and Messages APIs name them)."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def first_choice(body: Mapping[str, Any]) -> JSON:
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return {}


def message_text(message: Mapping[str, Any]) -> str:
    """The text of an assistant chat message (a string, or text parts)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def tool_calls(message: Mapping[str, Any]) -> list[JSON]:
    calls = message.get("tool_calls")
    return [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []


def require(condition: bool, message: str, param: str | None) -> None:
    if not condition:
        raise InvalidRequest(message, param=param)


def optional(body: Mapping[str, Any], name: str, kinds: type | tuple[type, ...], what: str) -> Any:
    """body[name] when present and of the right JSON type (booleans are not numbers), else 400."""
    value = body.get(name)
    if value is None:
        return None
    allowed = kinds if isinstance(kinds, tuple) else (kinds,)
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        raise InvalidRequest(f"`{name}` must be {what}.", param=name)
    return value


def copy_sampling(source: Mapping[str, Any], target: JSON, *names: str) -> None:
    """Copies numeric sampling parameters (temperature, top_p, ...) after checking their type."""
    for name in names:
        value = optional(source, name, (int, float), "a number")
        if value is not None:
            target[name] = value
