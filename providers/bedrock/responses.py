"""Bedrock Converse answers -> OpenAI's shapes. Pure functions, no I/O.

`chat_completion` turns a Converse response into a `chat.completion`; `StreamTranslator` turns
ConverseStream events, one at a time, into `chat.completion.chunk`s and always ends the stream
with one usage-only chunk (`choices: []`), which the gateway needs to charge real usage.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from providers.base import JSON, Usage

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}


def finish_reason(stop_reason: Any) -> str:
    # malformed_model_output / malformed_tool_use and reasons added later: the model stopped,
    # and OpenAI has no closer word for it.
    return FINISH_REASONS.get(str(stop_reason), "stop")


def usage_from_converse(usage: Any) -> Usage:
    """Bedrock counts cache reads and writes apart from `inputTokens`; OpenAI's prompt_tokens
    includes cached tokens, with the cache reads repeated in `cached_tokens`."""
    if not isinstance(usage, Mapping):
        return Usage()
    read = _count(usage.get("cacheReadInputTokens"))
    written = _count(usage.get("cacheWriteInputTokens"))
    return Usage(prompt_tokens=_count(usage.get("inputTokens")) + read + written,
                 completion_tokens=_count(usage.get("outputTokens")), cached_tokens=read)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def chat_completion(response: Mapping[str, Any], model: str, *, completion_id: str | None = None,
                    created: int | None = None) -> tuple[JSON, Usage]:
    """(OpenAI chat.completion body, usage) for a Converse response."""
    output = response.get("output")
    message = output.get("message") if isinstance(output, Mapping) else None
    blocks = message.get("content") if isinstance(message, Mapping) else None
    texts: list[str] = []
    tool_calls: list[JSON] = []
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, Mapping):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif isinstance(block.get("toolUse"), Mapping):
            tool_use = block["toolUse"]
            tool_calls.append({
                "id": tool_use.get("toolUseId"),
                "type": "function",
                "function": {"name": tool_use.get("name"),
                             "arguments": orjson.dumps(tool_use.get("input", {})).decode()},
            })
        # reasoningContent is never requested by this adapter; other block types carry no text.
    assistant: JSON = {"role": "assistant", "content": "".join(texts) if texts or not tool_calls else None,
                       "refusal": None}
    if tool_calls:
        assistant["tool_calls"] = tool_calls
    usage = usage_from_converse(response.get("usage"))
    body: JSON = {
        "id": completion_id or new_completion_id(),
        "object": "chat.completion",
        "created": created if created is not None else int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": assistant, "logprobs": None,
                     "finish_reason": finish_reason(response.get("stopReason"))}],
        "usage": usage.to_openai(),
    }
    return body, usage


class StreamTranslator:
    """ConverseStream events -> chat.completion.chunk dicts, for one response.

    Converse numbers content blocks (text and toolUse alike); OpenAI numbers tool calls only.
    A tool call's id and name come in `contentBlockStart`, its arguments as string deltas.
    """

    def __init__(self, model: str, *, completion_id: str | None = None, created: int | None = None) -> None:
        self.model = model
        self.completion_id = completion_id or new_completion_id()
        self.created = created if created is not None else int(time.time())
        self.usage: Usage | None = None
        self.stopped = False
        self._tool_index: dict[int, int] = {}

    def on_event(self, event_type: str, payload: Mapping[str, Any]) -> list[JSON]:
        """Chunks for one event; unknown events yield none (newer Bedrock features)."""
        if event_type == "messageStart":
            return [self._chunk({"role": "assistant", "content": ""})]
        if event_type == "contentBlockStart":
            return self._on_block_start(payload)
        if event_type == "contentBlockDelta":
            return self._on_block_delta(payload)
        if event_type == "messageStop":
            self.stopped = True
            return [self._chunk({}, finish_reason(payload.get("stopReason")))]
        if event_type == "metadata":
            self.usage = usage_from_converse(payload.get("usage"))
        return []

    def finish(self) -> JSON:
        """The closing usage-only chunk. Call once the event stream ended with messageStop."""
        usage = self.usage or Usage()
        return {"id": self.completion_id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "choices": [], "usage": usage.to_openai()}

    def _on_block_start(self, payload: Mapping[str, Any]) -> list[JSON]:
        start = payload.get("start")
        tool_use = start.get("toolUse") if isinstance(start, Mapping) else None
        if not isinstance(tool_use, Mapping):
            return []
        index = len(self._tool_index)
        self._tool_index[_block_index(payload)] = index
        call = {"index": index, "id": tool_use.get("toolUseId"), "type": "function",
                "function": {"name": tool_use.get("name"), "arguments": ""}}
        return [self._chunk({"tool_calls": [call]})]

    def _on_block_delta(self, payload: Mapping[str, Any]) -> list[JSON]:
        delta = payload.get("delta")
        if not isinstance(delta, Mapping):
            return []
        text = delta.get("text")
        if isinstance(text, str):
            return [self._chunk({"content": text})] if text else []
        tool_use = delta.get("toolUse")
        if isinstance(tool_use, Mapping):
            index = self._tool_index.get(_block_index(payload))
            arguments = tool_use.get("input")
            if index is None or not isinstance(arguments, str) or not arguments:
                return []
            return [self._chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]})]
        return []

    def _chunk(self, delta: JSON, finish: str | None = None) -> JSON:
        return {"id": self.completion_id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}


def _block_index(payload: Mapping[str, Any]) -> int:
    index = payload.get("contentBlockIndex")
    return index if isinstance(index, int) else -1
