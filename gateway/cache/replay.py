"""Between the two shapes of one answer: a stream's chunks assembled into the completion a
non-streaming request would have got (to store it), and a stored completion replayed as
chunks (to answer a streaming hit). The OpenAI SDK reassembles either to the same content."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

JSON = dict[str, Any]

# Top-level fields a completion and each chunk of its stream share; `cache` is the
# gateway's own hit marker, carried on every replayed chunk.
_HEAD_FIELDS = ("id", "created", "model", "system_fingerprint", "service_tier")


class StreamAssembler:
    """Accumulates `chat.completion.chunk`s, choice by choice, tool call by tool call.
    `choices` is how many the request asked for (`n`): fewer seen is not complete."""

    def __init__(self, choices: int = 1) -> None:
        self.expected_choices = choices
        self.head: JSON = {}
        self.choices: dict[int, JSON] = {}
        self.usage: JSON | None = None

    def add(self, chunk: JSON) -> None:
        if not self.head:
            self.head = {k: chunk[k] for k in _HEAD_FIELDS if k in chunk}
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            index = int(choice.get("index", 0))
            message = self.choices.setdefault(index, {"index": index, "message": {"role": "assistant"},
                                                      "logprobs": None, "finish_reason": None})
            delta = choice.get("delta") or {}
            target = message["message"]
            if delta.get("role"):
                target["role"] = delta["role"]
            for field in ("content", "refusal"):
                if delta.get(field) is not None:
                    target[field] = target.get(field, "") + delta[field]
            for call in delta.get("tool_calls") or ():
                self._add_tool_call(target, call)
            if choice.get("logprobs"):
                self._add_logprobs(message, choice["logprobs"])
            if choice.get("finish_reason"):
                message["finish_reason"] = choice["finish_reason"]

    @staticmethod
    def _add_tool_call(target: JSON, call: JSON) -> None:
        calls: list[JSON] = target.setdefault("tool_calls", [])
        index = int(call.get("index", len(calls)))
        while len(calls) <= index:
            calls.append({"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
        slot = calls[index]
        if call.get("id"):
            slot["id"] = call["id"]
        if call.get("type"):
            slot["type"] = call["type"]
        function = call.get("function") or {}
        if function.get("name"):
            slot["function"]["name"] += function["name"]
        if function.get("arguments"):
            slot["function"]["arguments"] += function["arguments"]

    @staticmethod
    def _add_logprobs(message: JSON, logprobs: JSON) -> None:
        # Each chunk carries the token entries of its own text: the whole answer's are the lists joined.
        target: JSON = message["logprobs"] if message["logprobs"] is not None else {}
        for field in ("content", "refusal"):
            entries = logprobs.get(field)
            if isinstance(entries, list):
                target[field] = (target.get(field) or []) + entries
        message["logprobs"] = target or None

    @property
    def complete(self) -> bool:
        return (len(self.choices) >= self.expected_choices
                and all(c["finish_reason"] for c in self.choices.values()))

    def completion(self) -> JSON:
        body: JSON = {"id": self.head.get("id", ""), "object": "chat.completion",
                      "created": self.head.get("created", 0), "model": self.head.get("model", "")}
        body.update({k: v for k, v in self.head.items() if k not in body})
        body["choices"] = [self.choices[i] for i in sorted(self.choices)]
        for choice in body["choices"]:
            choice["message"].setdefault("content", None)
        if self.usage is not None:
            body["usage"] = self.usage
        return body


def replay_chunks(completion: JSON) -> Iterator[JSON]:
    """The chunks a stream of `completion` would have carried: role, content (with its
    logprobs), tool calls, finish reason per choice, then a usage-only chunk when the
    completion has usage. A completion marked `"cache": "hit"` marks every chunk so."""
    head = {"id": completion.get("id", ""), "object": "chat.completion.chunk",
            "created": completion.get("created", 0), "model": completion.get("model", "")}
    head.update({k: completion[k] for k in (*_HEAD_FIELDS, "cache") if k in completion and k not in head})
    for choice in completion.get("choices") or ():
        index = choice.get("index", 0)
        message = choice.get("message") or {}
        first: JSON = {"role": message.get("role", "assistant")}
        if message.get("content") is not None:
            first["content"] = message["content"]
        if message.get("refusal") is not None:
            first["refusal"] = message["refusal"]
        yield {**head, "choices": [{"index": index, "delta": first, "logprobs": choice.get("logprobs"),
                                    "finish_reason": None}]}
        for i, call in enumerate(message.get("tool_calls") or ()):
            delta = {"tool_calls": [{"index": i, "id": call.get("id"), "type": call.get("type", "function"),
                                     "function": call.get("function", {})}]}
            yield {**head, "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": None}]}
        yield {**head, "choices": [{"index": index, "delta": {}, "logprobs": None,
                                    "finish_reason": choice.get("finish_reason") or "stop"}]}
    if completion.get("usage"):
        yield {**head, "choices": [], "usage": completion["usage"]}
