"""Chat chunks -> the typed events of a Responses stream (`ResponsesStream`), and the relay
of a Responses stream that came from an upstream with the API (`PassThroughEvents`). Both
are StreamRenderers (gateway/translate/base.py) for the stream relay (gateway/api/streaming.py)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import GatewayError
from gateway.translate.base import JSON, first_choice, named_event, new_id
from gateway.translate.responses import (
    ResponsesRequest,
    function_item,
    message_item,
    output_text_part,
    response_object,
)
from providers.base import ChatChunk, Usage

# The field of the chat chunk carrying the gateway's JSON Schema verdict on a streamed answer
# (gateway/pipeline/validation.py VERDICT_FIELD; spelled here too, translate sits below pipeline).
VALIDATION_FIELD = "x_gateway_validation"


@dataclass(slots=True)
class _OpenCall:
    output_index: int
    item: JSON


class ResponsesStream:
    """Chat chunks in, Responses events out: a small state machine over one answer.

    created/in_progress first; a message item opens with the first text (and closes when
    the first tool call starts, or at the end); each tool call is a function_call item
    whose arguments stream as deltas; the end closes what is open and sends
    response.completed (or response.incomplete on a length stop) with the whole Response."""

    def __init__(self, request: ResponsesRequest, response_id: str, created_at: int | None = None) -> None:
        self.request = request
        self.response_id = response_id
        self.created_at = created_at if created_at is not None else int(time.time())
        self.sequence = 0
        self.output: list[JSON] = []
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.response: JSON | None = None      # the final Response object, once the stream ended
        self._text: list[str] | None = None    # the open message item's text so far
        self._text_index = -1
        self._calls: dict[int, _OpenCall] = {}
        self._started = False
        self.validation: str | None = None     # the JSON Schema verdict, when the answer was judged

    # the StreamRenderer protocol

    def chunk(self, chunk: ChatChunk) -> bytes | None:
        data = chunk.data
        mark = data.get(VALIDATION_FIELD)
        if isinstance(mark, dict):   # the gateway's verdict on the answer: it goes in the final Response
            self.validation = str(mark.get("verdict"))
            return None
        out = self._start()
        usage = Usage.from_openai(data.get("usage"))
        if usage is not None:
            self.usage = usage
        choice = first_choice(data)
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
        content = (delta or {}).get("content")
        if isinstance(content, str) and content:
            out += self._text_delta(content)
        for call in (delta or {}).get("tool_calls") or ():
            if isinstance(call, dict):
                out += self._call_delta(call)
        if choice.get("finish_reason"):
            self.finish_reason = str(choice["finish_reason"])
        return b"".join(out) or None

    def end(self) -> bytes:
        out = self._start() + self._close_text() + self._close_calls()
        self.response = self._snapshot("completed")
        if self.validation is not None:
            metadata = self.response.get("metadata")
            self.response["metadata"] = {**(metadata if isinstance(metadata, dict) else {}),
                                         "gateway_validation": self.validation}
        name = "response.incomplete" if self.response["status"] == "incomplete" else "response.completed"
        out.append(self._event(name, {"response": self.response}))
        return b"".join(out)

    def error(self, error: GatewayError) -> bytes:
        out = self._start()
        out.append(self._event("error", {"code": error.code or error.type, "message": error.message,
                                         "param": None}))
        self.response = self._snapshot("failed", {"code": "server_error", "message": error.message})
        out.append(self._event("response.failed", {"response": self.response}))
        return b"".join(out)

    # events

    def _event(self, name: str, payload: JSON) -> bytes:
        data = {"type": name, "sequence_number": self.sequence, **payload}
        self.sequence += 1
        return named_event(name, data)

    def _snapshot(self, status: str, error: JSON | None = None) -> JSON:
        return response_object(self.request, self.response_id, self.created_at, status=status,
                               output=[dict(item) for item in self.output],
                               usage=self.usage if status != "in_progress" else None,
                               finish_reason=self.finish_reason, error=error)

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        return [self._event("response.created", {"response": self._snapshot("in_progress")}),
                self._event("response.in_progress", {"response": self._snapshot("in_progress")})]

    def _text_delta(self, text: str) -> list[bytes]:
        out: list[bytes] = []
        if self._text is None:
            self._text = []
            self._text_index = len(self.output)
            item = message_item(new_id("msg_"), [], "in_progress")
            self.output.append(item)
            out.append(self._event("response.output_item.added", {"output_index": self._text_index, "item": item}))
            out.append(self._event("response.content_part.added", {
                "item_id": item["id"], "output_index": self._text_index, "content_index": 0,
                "part": output_text_part("")}))
        self._text.append(text)
        out.append(self._event("response.output_text.delta", {
            "item_id": self.output[self._text_index]["id"], "output_index": self._text_index, "content_index": 0,
            "delta": text, "logprobs": []}))
        return out

    def _close_text(self) -> list[bytes]:
        if self._text is None:
            return []
        text, index = "".join(self._text), self._text_index
        self._text = None
        item_id = self.output[index]["id"]
        part = output_text_part(text)
        item = self.output[index] = message_item(item_id, [part], "completed")
        return [self._event("response.output_text.done", {"item_id": item_id, "output_index": index,
                                                          "content_index": 0, "text": text, "logprobs": []}),
                self._event("response.content_part.done", {"item_id": item_id, "output_index": index,
                                                           "content_index": 0, "part": part}),
                self._event("response.output_item.done", {"output_index": index, "item": item})]

    def _call_delta(self, call: Mapping[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        index = call.get("index", 0)
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        open_call = self._calls.get(index)
        if open_call is None:
            out += self._close_text()
            item = function_item(str(call.get("id") or new_id("call_")), str((function or {}).get("name") or ""),
                                  "", "in_progress")
            open_call = self._calls[index] = _OpenCall(len(self.output), item)
            self.output.append(item)
            out.append(self._event("response.output_item.added", {"output_index": open_call.output_index,
                                                                  "item": dict(item)}))
        arguments = (function or {}).get("arguments")
        if isinstance(arguments, str) and arguments:
            open_call.item["arguments"] += arguments
            out.append(self._event("response.function_call_arguments.delta", {
                "item_id": open_call.item["id"], "output_index": open_call.output_index, "delta": arguments}))
        return out

    def _close_calls(self) -> list[bytes]:
        out: list[bytes] = []
        for open_call in self._calls.values():
            item = open_call.item
            item["status"] = "completed"
            out.append(self._event("response.function_call_arguments.done", {
                "item_id": item["id"], "output_index": open_call.output_index, "name": item["name"],
                "arguments": item["arguments"]}))
            out.append(self._event("response.output_item.done", {"output_index": open_call.output_index,
                                                                 "item": dict(item)}))
        self._calls.clear()
        return out


class PassThroughEvents:
    """A Responses stream from an upstream that has the API, relayed event by event as it
    came; the usage-only chunk the provider adds for the charge is not sent. A failure
    after the first event ends the stream with `error` and `response.failed`, as above."""

    def __init__(self) -> None:
        self.response: JSON | None = None     # the final Response, once completed
        self._last: JSON | None = None        # the latest Response snapshot seen
        self._sequence = 0
        self._ended = False

    def chunk(self, chunk: ChatChunk) -> bytes | None:
        data = chunk.data
        if "choices" in data:
            return None
        kind = str(data.get("type"))
        if isinstance(data.get("sequence_number"), int):
            self._sequence = data["sequence_number"] + 1
        if isinstance(data.get("response"), dict):
            self._last = data["response"]
            if kind in ("response.completed", "response.incomplete"):
                self.response = data["response"]
        self._ended = self._ended or kind in ("response.completed", "response.incomplete", "response.failed")
        return named_event(kind, data)

    def end(self) -> bytes:
        return b""

    def error(self, error: GatewayError) -> bytes:
        if self._ended:
            return b""
        out = [named_event("error", {"type": "error", "sequence_number": self._sequence,
                                     "code": error.code or error.type, "message": error.message, "param": None})]
        if self._last is not None:
            failed = {**self._last, "status": "failed", "error": {"code": "server_error", "message": error.message}}
            out.append(named_event("response.failed", {"type": "response.failed",
                                                       "sequence_number": self._sequence + 1, "response": failed}))
        return b"".join(out)
