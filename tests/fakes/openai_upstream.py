"""A fake OpenAI-compatible upstream: a real aiohttp server on 127.0.0.1 that answers chat
completions in JSON and SSE, and can be told per request to fail the ways real upstreams
fail (5xx, 429 with Retry-After, hanging before headers, closing mid-stream, malformed
JSON, a wrong content type, a slow drip)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.support.threads import free_port, serving


@dataclass
class Behavior:
    """What the next request gets. kind: ok | status | hang | cut | malformed | wrong_type | drip | tools,
    reset (the connection closed before an answer) | short (a JSON body cut off halfway, Content-Length
    promising all of it),
    and (waiting for the client to close, noting when in `closed_at`) hang_until_closed | stall_stream |
    silent_stream (headers, then no chunk at all),
    and slow_stream (every chunk `chunk_delay` seconds after the one before), slow_cut (the same, closing
    the connection halfway, as cut does).
    `pieces`: the answer's text in exactly these content deltas (any kind that answers; the whole text
    when not streamed); kind tool_stream: two tool calls streamed in fragments, finish_reason tool_calls.
    A request offering `tools` gets those two calls too (streamed or whole) unless its last message is
    a tool result; then the answer is "tool results: <call id>=<content>; ..."."""

    kind: str = "ok"
    status: int = 200
    retry_after: str | None = None
    text: str | None = None
    delay: float = 0.0
    body: dict[str, Any] | None = None
    chunk_delay: float = 0.0
    pieces: list[str] | None = None


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeOpenAI:
    port: int = 0
    script: deque[Behavior] = field(default_factory=deque)
    default: Behavior = field(default_factory=Behavior)
    requests: list[Seen] = field(default_factory=list)
    disconnects: int = 0
    completed_streams: int = 0
    closed_at: list[float] = field(default_factory=list)   # time.monotonic() when a waiting call saw its client leave
    embeddings_cut_short: bool = False   # embeddings answers break off halfway (Content-Length promising more)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def then(self, *behaviors: Behavior) -> FakeOpenAI:
        self.script.extend(behaviors)
        return self

    def next_behavior(self) -> Behavior:
        return self.script.popleft() if self.script else self.default

    # -- handlers ---------------------------------------------------------------------

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(Seen(request.path, dict(request.headers), body))
        behavior = self.next_behavior()
        if behavior.delay:
            await asyncio.sleep(behavior.delay)
        if behavior.kind == "status":
            headers = {"Retry-After": behavior.retry_after} if behavior.retry_after else {}
            error = behavior.body or {"error": {"message": f"fake upstream error {behavior.status}",
                                                "type": "invalid_request_error" if behavior.status < 500 else "server_error",
                                                "param": None, "code": None}}
            return web.json_response(error, status=behavior.status, headers=headers)
        if behavior.kind == "hang":
            await asyncio.sleep(3600)
        if behavior.kind == "hang_until_closed":
            await self._until_closed(request)
            return web.Response(status=499)
        if behavior.kind == "malformed":
            return web.Response(body=b'{"id": "x", "choices": [', content_type="application/json")
        if behavior.kind == "reset":   # the connection dropped before any answer
            request.transport.close()  # type: ignore[union-attr]
            return web.Response(status=499)
        if behavior.kind == "short":   # headers promise more body than comes before the connection closes
            whole = orjson.dumps(_completion(body, _echo(body), behavior))
            response = web.StreamResponse(headers={"Content-Type": "application/json",
                                                   "Content-Length": str(len(whole))})
            await response.prepare(request)
            await response.write(whole[:len(whole) // 2])
            request.transport.close()  # type: ignore[union-attr]
            return response
        if behavior.kind == "wrong_type":
            return web.Response(text="<html>gateway error</html>", content_type="text/html")
        text = behavior.text if behavior.text is not None else _echo(body)
        if behavior.pieces is not None:
            text = "".join(behavior.pieces)
        if body.get("stream"):
            return await self._stream(request, body, behavior, text)
        return web.json_response(_completion(body, text, behavior))

    async def _stream(self, request: web.Request, body: dict[str, Any], behavior: Behavior,
                      text: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        chunks = _chunks(body, text, behavior)
        if behavior.kind in ("stall_stream", "silent_stream"):   # 2 or 0 chunks, then nothing
            for chunk in chunks[:2] if behavior.kind == "stall_stream" else []:
                await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
            await self._until_closed(request)
            return response
        try:
            for i, chunk in enumerate(chunks):
                if behavior.kind in ("slow_stream", "slow_cut") and i > 0:
                    await asyncio.sleep(behavior.chunk_delay)
                if behavior.kind in ("cut", "slow_cut") and i == len(chunks) // 2:
                    request.transport.close()  # type: ignore[union-attr]
                    return response
                if behavior.kind == "drip" and i > 0:
                    await asyncio.sleep(behavior.delay or 1.0)
                await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
            await response.write(b"data: [DONE]\n\n")
            self.completed_streams += 1
        except (ConnectionResetError, asyncio.CancelledError):
            self.disconnects += 1
            raise
        return response

    async def _until_closed(self, request: web.Request, limit: float = 60.0) -> None:
        deadline = time.monotonic() + limit
        while request.transport is not None and not request.transport.is_closing():
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(0.01)
        self.closed_at.append(time.monotonic())
        self.disconnects += 1

    async def responses(self, request: web.Request) -> web.StreamResponse:
        """OpenAI's Responses API, for pass-through: echoes the last input text (or reports the
        function_call_outputs), or calls get_weather twice when offered tools; `status` and
        `cut` behave as for chat."""
        body = await request.json()
        self.requests.append(Seen(request.path, dict(request.headers), body))
        behavior = self.next_behavior()
        if behavior.kind == "status":
            return web.json_response(behavior.body or {"error": {"message": f"fake upstream error {behavior.status}",
                                                                 "type": "invalid_request_error", "param": None,
                                                                 "code": None}}, status=behavior.status)
        response = _response_object(body)
        if not body.get("stream"):
            return web.json_response(response)
        stream = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await stream.prepare(request)
        events = _response_events(response)
        for i, event in enumerate(events):
            if behavior.kind == "cut" and i == len(events) // 2:
                request.transport.close()  # type: ignore[union-attr]
                return stream
            event["sequence_number"] = i
            await stream.write(f"event: {event['type']}\n".encode() + b"data: " + orjson.dumps(event) + b"\n\n")
        self.completed_streams += 1
        return stream

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model",
                                                               "owned_by": "fake"}]})

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        given = body["input"]
        one = isinstance(given, str) or (isinstance(given, list) and all(isinstance(t, int) for t in given))
        inputs = [given] if one else given   # a string, a token array, or a list of either
        if self.embeddings_cut_short:
            response = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": "400"})
            await response.prepare(request)
            await response.write(b'{"object": "list", "data": [')
            request.transport.close()  # type: ignore[union-attr]
            return response
        return web.json_response({"object": "list", "model": body["model"],
                                  "data": [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, float(len(t))]}
                                           for i, t in enumerate(inputs)],
                                  "usage": {"prompt_tokens": 3 * len(inputs), "total_tokens": 3 * len(inputs)}})


def _tool_turn(body: dict[str, Any], behavior: Behavior) -> bool:
    """Tool calls answer a request that offers tools, until its last message is a tool result."""
    if behavior.kind in ("tools", "tool_stream"):
        return True
    messages = body.get("messages") or [{}]
    return bool(body.get("tools")) and messages[-1].get("role") != "tool"


def _echo(body: dict[str, Any]) -> str:
    results: list[str] = []
    for message in reversed(body.get("messages", [])):
        if message.get("role") != "tool":
            break
        results.insert(0, f"{message.get('tool_call_id')}={message.get('content')}")
    if results:
        return "tool results: " + "; ".join(results)
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return f"echo: {message['content']}"
    return "echo"


def _response_object(body: dict[str, Any]) -> dict[str, Any]:
    items = body["input"] if isinstance(body["input"], list) else [{"role": "user", "content": body["input"]}]
    outputs = [f"{i['call_id']}={i['output']}" for i in items if i.get("type") == "function_call_output"]
    output: list[dict[str, Any]]
    if body.get("tools") and not outputs:
        output = [{"type": "function_call", "id": f"fc_{n}", "call_id": f"call_{n}", "name": "get_weather",
                   "arguments": json, "status": "completed"}
                  for n, json in ((1, '{"city": "Paris"}'), (2, '{"city": "Oslo"}'))]
    else:
        last = [i for i in items if i.get("role") == "user"][-1]["content"] if not outputs else ""
        text = "tool results: " + "; ".join(outputs) if outputs else f"echo: {last if isinstance(last, str) else last[0]['text']}"
        output = [{"type": "message", "id": "msg_fake", "role": "assistant", "status": "completed",
                   "content": [{"type": "output_text", "text": text, "annotations": []}]}]
    words = sum(len(str(o.get("arguments") or o.get("content", [{}])[0].get("text", "")).split()) for o in output)
    return {"id": f"resp_fake{time.monotonic_ns()}", "object": "response", "created_at": int(time.time()),
            "status": "completed", "error": None, "incomplete_details": None, "instructions": body.get("instructions"),
            "model": body["model"] + "-2026-01-01", "output": output, "parallel_tool_calls": True,
            "previous_response_id": body.get("previous_response_id"), "store": body.get("store", True),
            "temperature": 1.0, "top_p": 1.0, "tool_choice": "auto", "tools": body.get("tools", []),
            "text": {"format": {"type": "text"}}, "truncation": "disabled", "metadata": {},
            "usage": {"input_tokens": 13, "input_tokens_details": {"cached_tokens": 2, "cache_write_tokens": 0},
                      "output_tokens": words, "output_tokens_details": {"reasoning_tokens": 0},
                      "total_tokens": 13 + words}}


def _response_events(response: dict[str, Any]) -> list[dict[str, Any]]:
    started = {**response, "status": "in_progress", "output": [], "usage": None}
    events: list[dict[str, Any]] = [{"type": "response.created", "response": started},
                                    {"type": "response.in_progress", "response": started}]
    for index, item in enumerate(response["output"]):
        opened = {**item, "status": "in_progress"}
        if item["type"] == "message":
            text = item["content"][0]["text"]
            opened["content"] = []
            where = {"item_id": item["id"], "output_index": index, "content_index": 0}
            events += [{"type": "response.output_item.added", "output_index": index, "item": opened},
                       {"type": "response.content_part.added", **where,
                        "part": {"type": "output_text", "text": "", "annotations": []}},
                       *[{"type": "response.output_text.delta", **where, "delta": w, "logprobs": []}
                         for w in text.split(" ")[:1] + [" " + w for w in text.split(" ")[1:]]],
                       {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
                       {"type": "response.content_part.done", **where, "part": item["content"][0]}]
        else:
            opened["arguments"] = ""
            events += [{"type": "response.output_item.added", "output_index": index, "item": opened},
                       {"type": "response.function_call_arguments.delta", "item_id": item["id"],
                        "output_index": index, "delta": item["arguments"]},
                       {"type": "response.function_call_arguments.done", "item_id": item["id"],
                        "output_index": index, "arguments": item["arguments"]}]
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    events.append({"type": "response.completed", "response": response})
    return events


def _usage(text: str) -> dict[str, int]:
    return {"prompt_tokens": 11, "completion_tokens": len(text.split()), "total_tokens": 11 + len(text.split())}


def _completion(body: dict[str, Any], text: str, behavior: Behavior) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    finish = "stop"
    if _tool_turn(body, behavior):
        message = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}},
        ]}
        finish = "tool_calls"
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": body["model"], "system_fingerprint": "fp_fake", "unknown_upstream_field": 1,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": _usage(text)}


def _chunks(body: dict[str, Any], text: str, behavior: Behavior) -> list[dict[str, Any]]:
    head = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": body["model"]}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    out = [chunk({"role": "assistant", "content": ""})]
    if _tool_turn(body, behavior):
        out = [chunk({"role": "assistant", "content": None})]
        for i, (call_id, city) in enumerate((("call_1", "Paris"), ("call_2", "Oslo"))):
            out.append(chunk({"tool_calls": [{"index": i, "id": call_id, "type": "function",
                                              "function": {"name": "get_weather", "arguments": ""}}]}))
            out += [chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]})
                    for part in ('{"ci', 'ty": "', city, '"}')]
        out.append(chunk({}, "tool_calls"))
    else:
        pieces = behavior.pieces if behavior.pieces is not None else [
            w if i == 0 else " " + w for i, w in enumerate(text.split(" "))]
        out += [chunk({"content": piece}) for piece in pieces]
        out.append(chunk({}, "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        out.append({**head, "choices": [], "usage": _usage(text)})
    return out


class FakeOpenAIServer:
    """Starts the fake on a free port in its own thread; `with FakeOpenAIServer() as fake:`."""

    def __init__(self) -> None:
        self.fake = FakeOpenAI()
        self._stack = ExitStack()

    def __enter__(self) -> FakeOpenAI:
        self.fake.port = free_port()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.fake.chat)
        app.router.add_post("/v1/embeddings", self.fake.embeddings)
        app.router.add_post("/v1/responses", self.fake.responses)
        app.router.add_get("/v1/models", self.fake.models)
        app.router.add_get("/health", self.fake.health)
        self._stack.enter_context(serving(app, self.fake.port, "fake-openai"))
        return self.fake

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
