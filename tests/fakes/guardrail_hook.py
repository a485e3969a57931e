"""A fake guardrail webhook: a real aiohttp server on 127.0.0.1 a security team might run.
Each hook has its own path (`/hooks/<name>`) and answers as its mode says; every payload it
receives is kept, to check what the gateway posted (never unredacted PII).

Modes: allow | block | modify | hang (longer than any timeout) | garbage (not JSON) |
unknown (JSON with an unknown action) | status (HTTP 500)."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.threads import free_port, serving

MODIFIED_ANSWER = "the hook rewrote this answer"
MODIFIED_PROMPT = "the hook rewrote this prompt"


@dataclass
class FakeHooks:
    port: int = 0
    modes: dict[str, str] = field(default_factory=dict)
    received: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{name}"

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        payload = await request.json()
        self.received.setdefault(name, []).append(payload)
        mode = self.modes.get(name, "allow")
        if mode == "hang":
            await asyncio.sleep(30)
        if mode == "garbage":
            return web.Response(text="<html>oops</html>", content_type="text/html")
        if mode == "unknown":
            return web.json_response({"action": "quarantine"})
        if mode == "status":
            return web.json_response({"error": "down"}, status=500)
        if mode == "block":
            return web.json_response({"action": "block", "reason": f"{name} says no"})
        if mode == "modify":
            if payload["phase"] == "request":
                return web.json_response({"action": "modify",
                                          "messages": [{"role": "user", "content": MODIFIED_PROMPT}]})
            return web.json_response({"action": "modify", "content": MODIFIED_ANSWER})
        return web.json_response({"action": "allow"})


class FakeHooksServer:
    """`with FakeHooksServer() as hooks:` starts it on a free port in its own thread."""

    def __init__(self) -> None:
        self.hooks = FakeHooks()
        self._stack = ExitStack()

    def __enter__(self) -> FakeHooks:
        self.hooks.port = free_port()
        app = web.Application()
        app.router.add_post("/hooks/{name}", self.hooks.handle)
        self._stack.enter_context(serving(app, self.hooks.port, "fake-hooks"))
        return self.hooks

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
