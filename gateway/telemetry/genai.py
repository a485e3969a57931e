"""Span attribute values per the OpenTelemetry GenAI semantic conventions, read from the
request and response bodies. Only numbers, ids and names: message text is returned only by
the `*_messages` functions, which the caller uses when `trace_content` is on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from providers.base import JSON, ChatRequest, Usage

OPERATION = "chat"

AttributeValue = str | int | float | bool | list[str]


def request_attributes(request: ChatRequest) -> dict[str, AttributeValue]:
    """The sampling settings a client asked for (numbers only)."""
    attributes: dict[str, AttributeValue] = {}
    body = request.body
    if request.max_tokens is not None:
        attributes["gen_ai.request.max_tokens"] = request.max_tokens
    for field in ("temperature", "top_p", "frequency_penalty", "presence_penalty"):
        value = body.get(field)
        if isinstance(value, int | float) and not isinstance(value, bool):
            attributes[f"gen_ai.request.{field}"] = float(value)
    seed = body.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        attributes["gen_ai.request.seed"] = seed
    n = body.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n != 1:
        attributes["gen_ai.request.choice.count"] = n
    return attributes


def usage_attributes(usage: Usage | None) -> dict[str, AttributeValue]:
    if usage is None:
        return {}
    return {"gen_ai.usage.input_tokens": usage.prompt_tokens,
            "gen_ai.usage.output_tokens": usage.completion_tokens}


class ResponseFacts:
    """What a response says about itself: id, model, finish reasons. Fed a whole body or
    stream chunks one by one."""

    __slots__ = ("finish_reasons", "id", "model")

    def __init__(self) -> None:
        self.id: str | None = None
        self.model: str | None = None
        self.finish_reasons: list[str] = []

    def add(self, data: Mapping[str, Any]) -> None:
        if self.id is None and isinstance(data.get("id"), str):
            self.id = data["id"]
        if self.model is None and isinstance(data.get("model"), str):
            self.model = data["model"]
        for choice in data.get("choices") or ():
            reason = choice.get("finish_reason") if isinstance(choice, dict) else None
            if isinstance(reason, str):
                self.finish_reasons.append(reason)

    def attributes(self) -> dict[str, AttributeValue]:
        attributes: dict[str, AttributeValue] = {}
        if self.id is not None:
            attributes["gen_ai.response.id"] = self.id
        if self.model is not None:
            attributes["gen_ai.response.model"] = self.model
        if self.finish_reasons:
            attributes["gen_ai.response.finish_reasons"] = list(self.finish_reasons)
        return attributes

    @classmethod
    def of(cls, body: Mapping[str, Any] | None) -> ResponseFacts:
        facts = cls()
        if body is not None:
            facts.add(body)
        return facts


# -- content (only when settings.trace_content asks for it) ---------------------------

def _parts(content: Any) -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    if isinstance(content, list):
        return [{"type": "text", "content": p["text"]} for p in content
                if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return []


def _tool_calls(calls: Iterable[Any]) -> list[JSON]:
    return [{"type": "tool_call", "id": c.get("id"), "name": (c.get("function") or {}).get("name"),
             "arguments": (c.get("function") or {}).get("arguments")} for c in calls if isinstance(c, dict)]


def input_messages(messages: Iterable[Any]) -> str:
    """`gen_ai.input.messages` as JSON: the messages as the provider received them."""
    out = []
    for message in messages:
        if isinstance(message, dict):
            out.append({"role": message.get("role"),
                        "parts": _parts(message.get("content")) + _tool_calls(message.get("tool_calls") or ())})
    return orjson.dumps(out).decode()


def output_messages(body: Mapping[str, Any] | None) -> str | None:
    """`gen_ai.output.messages` as JSON, from a whole chat.completion body."""
    if body is None:
        return None
    out = []
    for choice in body.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict):
            out.append({"role": message.get("role", "assistant"),
                        "parts": _parts(message.get("content")) + _tool_calls(message.get("tool_calls") or ()),
                        "finish_reason": choice.get("finish_reason")})
    return orjson.dumps(out).decode()
