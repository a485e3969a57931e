"""A fake Anthropic Messages API: a real aiohttp server on 127.0.0.1 serving `POST /v1/messages`
in JSON and SSE (message_start, content_block_*, ping, message_delta, message_stop), with tool
use, and scriptable failures: any status with Anthropic's error shape (429 with retry-after,
529 overloaded...), an `error` event inside the stream, a stream cut or stalled mid-way.

It checks what a real one checks: `x-api-key`, `anthropic-version`, a JSON body with `model`,
an integer `max_tokens`, and `messages` alternating user/assistant from a user turn.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.support.threads import free_port, serving

API_KEY = "sk-ant-test-0123456789abcdef"
VERSION = "2023-06-01"
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
               529: "overloaded_error"}


@dataclass
class Reply:
    """What the next request gets. `status` != 200 answers Anthropic's error shape (type from
    ERROR_TYPES unless `error_type`), with `retry_after` as the header. `text` replaces the echo;
    `tool_uses` (id, name, input) follow it. For streams: `error_after` sends an `error` event
    (type `error_type` or overloaded_error) after that many events; `cut_after` closes the
    connection there; `stall_after` stops sending there (until the client leaves)."""

    status: int = 200
    error_type: str | None = None
    message: str = "fake error"
    retry_after: str | None = None
    text: str | None = None
    tool_uses: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    error_after: int | None = None
    cut_after: int | None = None
    stall_after: int | None = None


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeAnthropic:
    port: int = 0
    api_key: str = API_KEY
    script: deque[Reply] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    cache_read_tokens: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def then(self, *replies: Reply) -> FakeAnthropic:
        self.script.extend(replies)
        return self

    async def messages(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("x-api-key") != self.api_key:
            return _error(401, "authentication_error", "invalid x-api-key")
        if request.headers.get("anthropic-version") != VERSION:
            return _error(400, "invalid_request_error", "anthropic-version: header is required")
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _error(400, "invalid_request_error", "body is not JSON")
        problem = _check(body)
        if problem:
            return _error(400, "invalid_request_error", problem)
        self.received.append(Received(dict(request.headers), body))
        reply = self.script.popleft() if self.script else Reply()
        if reply.status != 200:
            headers = {"retry-after": reply.retry_after} if reply.retry_after else {}
            return _error(reply.status, reply.error_type or ERROR_TYPES.get(reply.status, "api_error"),
                          reply.message, headers)
        text = reply.text if reply.text is not None else _answer(body)
        if body.get("stream"):
            return await self._stream(request, body, reply, text)
        return web.json_response(self._message(body, reply, text))

    def _usage(self, text: str) -> dict[str, int]:
        return {"input_tokens": 11, "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": self.cache_read_tokens, "output_tokens": len(text.split())}

    def _message(self, body: dict[str, Any], reply: Reply, text: str) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        content += [{"type": "tool_use", "id": i, "name": n, "input": args} for i, n, args in reply.tool_uses]
        return {"id": "msg_fake01", "type": "message", "role": "assistant", "model": body["model"],
                "content": content, "stop_reason": "tool_use" if reply.tool_uses else "end_turn",
                "stop_sequence": None, "usage": self._usage(text)}

    def _events(self, body: dict[str, Any], reply: Reply, text: str) -> list[dict[str, Any]]:
        usage = self._usage(text)
        start = {**self._message(body, reply, text), "content": [], "stop_reason": None,
                 "usage": {**usage, "output_tokens": 1}}
        events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
        index = 0
        if text:
            events += [{"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                       {"type": "ping"}]
            words = text.split(" ")
            events += [{"type": "content_block_delta", "index": 0,
                        "delta": {"type": "text_delta", "text": w if i == 0 else " " + w}} for i, w in enumerate(words)]
            events.append({"type": "content_block_stop", "index": 0})
            index = 1
        for call_id, name, args in reply.tool_uses:
            encoded = orjson.dumps(args).decode()
            events.append({"type": "content_block_start", "index": index,
                           "content_block": {"type": "tool_use", "id": call_id, "name": name, "input": {}}})
            events += [{"type": "content_block_delta", "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": part}}
                       for part in ("", encoded[:5], encoded[5:])]
            events.append({"type": "content_block_stop", "index": index})
            index += 1
        events += [{"type": "message_delta", "delta": {"stop_reason": "tool_use" if reply.tool_uses else "end_turn",
                                                       "stop_sequence": None},
                    "usage": {"output_tokens": usage["output_tokens"]}},
                   {"type": "message_stop"}]
        return events

    async def _stream(self, request: web.Request, body: dict[str, Any], reply: Reply,
                      text: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await response.prepare(request)
        for i, event in enumerate(self._events(body, reply, text)):
            if i == reply.error_after:
                event = {"type": "error", "error": {"type": reply.error_type or "overloaded_error",
                                                    "message": "Overloaded"}}
            if i == reply.cut_after:
                request.transport.close()  # type: ignore[union-attr]
                return response
            if i == reply.stall_after:   # until the client leaves, 60 s at most
                deadline = asyncio.get_running_loop().time() + 60
                while request.transport is not None and not request.transport.is_closing():
                    if asyncio.get_running_loop().time() > deadline:
                        break
                    await asyncio.sleep(0.01)
                return response
            await response.write(b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n")
            if event["type"] == "error":
                break
        return response


def _check(body: Any) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int):
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for i, message in enumerate(messages):
        if message.get("role") != ("user" if i % 2 == 0 else "assistant"):
            return f"messages.{i}: roles must alternate between user and assistant, starting with user"
        for block in message.get("content") if isinstance(message.get("content"), list) else []:
            if block.get("type") == "text" and not block.get("text", "").strip():
                return f"messages.{i}: text content blocks must be non-empty"
    return None


def _answer(body: dict[str, Any]) -> str:
    """`tool results: id=text; ...` after tool results, else `echo: <the last user text>`."""
    last = body["messages"][-1]
    content = last["content"] if isinstance(last["content"], list) else [{"type": "text", "text": last["content"]}]
    results = [f"{b['tool_use_id']}={''.join(c['text'] for c in b['content'])}" for b in content
               if b.get("type") == "tool_result"]
    if results:
        return "tool results: " + "; ".join(results)
    texts = [b["text"] for b in content if b.get("type") == "text"]
    return f"echo: {texts[-1]}" if texts else "echo"


def _error(status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"type": "error", "error": {"type": error_type, "message": message}},
                             status=status, headers=headers)


@contextmanager
def running_fake_anthropic() -> Iterator[FakeAnthropic]:
    """The fake on a free port, in a thread of its own (for synchronous tests)."""
    fake = FakeAnthropic(port=free_port())
    app = web.Application()
    app.router.add_post("/v1/messages", fake.messages)
    with serving(app, fake.port, "fake-anthropic"):
        yield fake
