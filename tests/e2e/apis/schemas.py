"""Strict validation of what the gateway sends, by the official SDKs' own pydantic models
(the OpenAPI documents cannot be fetched here): OpenAI's `Response`, `ResponseStreamEvent`,
`ChatCompletion`, `Completion`; Anthropic's `Message` and `RawMessageStreamEvent`. Strict
mode: no coercion, every required field present with its exact JSON type."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from anthropic.types import Message, MessageCountTokensParams, RawMessageStreamEvent
from openai.types import Completion
from openai.types.chat import ChatCompletion
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

_RESPONSE_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
_MESSAGE_EVENT: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
_ = MessageCountTokensParams


def strict_response(data: dict[str, Any]) -> Response:
    return Response.model_validate(data, strict=True)


def strict_chat(data: dict[str, Any]) -> ChatCompletion:
    return ChatCompletion.model_validate(data, strict=True)


def strict_completion(data: dict[str, Any]) -> Completion:
    return Completion.model_validate(data, strict=True)


def strict_message(data: dict[str, Any]) -> Message:
    return Message.model_validate(data, strict=True)


def sse_events(response: httpx.Response) -> list[tuple[str | None, dict[str, Any]]]:
    """(event name, data) of each server-sent event; `data: [DONE]` ends the list."""
    out: list[tuple[str | None, dict[str, Any]]] = []
    for block in response.text.split("\n\n"):
        name, data = None, None
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
        if data is None or data == "[DONE]":
            continue
        out.append((name, orjson.loads(data)))
    return out


def strict_response_events(response: httpx.Response) -> list[Any]:
    events: list[Any] = []
    for name, data in sse_events(response):
        assert name == data["type"], (name, data)
        events.append(_RESPONSE_EVENT.validate_python(data, strict=True))
    return events


class _Ping:
    type = "ping"


def strict_message_events(response: httpx.Response) -> list[Any]:
    events: list[Any] = []
    for name, data in sse_events(response):
        assert name == data["type"], (name, data)
        if name == "ping":   # a keep-alive the SDK skips; not in the event union
            assert data == {"type": "ping"}
            events.append(_Ping())
            continue
        if name == "error":
            assert set(data) == {"type", "error"} and set(data["error"]) == {"type", "message"}
            events.append(data)
            continue
        events.append(_MESSAGE_EVENT.validate_python(data, strict=True))
    return events
