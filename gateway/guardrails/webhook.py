"""Guardrail webhooks: a security team's own endpoint, called before the request goes to a
model (`phase: request`) or after the answer comes back (`phase: response`).

The gateway POSTs JSON

    {"phase": "request",  "request_id", "tenant", "model", "messages": [...]}
    {"phase": "response", "request_id", "tenant", "model", "content": "...", "choice": 0}

(messages and content with PII already redacted: see gateway/pipeline/hooks.py) and
follows the reply:

    {"action": "allow"}
    {"action": "block", "reason": "..."}              -> 400 blocked_by_guardrail, with the reason
    {"action": "modify", "messages": [...]}           -> the request goes on with these messages
    {"action": "modify", "content": "..."}            -> the answer's text is replaced

Anything else -- a timeout, a refused connection, a status other than 2xx, a body that is
not JSON, a wrong shape, an unknown action -- is the hook failing, and the hook's
`on_error` decides: `allow` (fail open: as if it allowed) or `block` (fail closed).

One aiohttp session for every hook (opened on first use, in the serving loop), one total
timeout per call (`timeout_ms`); a reply is read up to MAX_REPLY_BYTES.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiohttp
import orjson

from gateway.catalog import GuardrailWebhook

JSON = dict[str, Any]
MAX_REPLY_BYTES = 4 * 1024 * 1024
MAX_REASON_CHARS = 500
_JSON_HEADERS = {"Content-Type": "application/json"}


class Outcome(StrEnum):
    """How one call ended: the hook's action, or how it failed (a metric label)."""

    ALLOW = "allow"
    BLOCK = "block"
    MODIFY = "modify"
    TIMEOUT = "timeout"
    ERROR = "error"          # no connection, or a status other than 2xx
    INVALID = "invalid"      # not JSON, a wrong shape, an unknown action


@dataclass(frozen=True, slots=True)
class Reply:
    outcome: Outcome
    reason: str | None = None                 # block: the hook's reason; failures: what went wrong
    messages: list[JSON] | None = None        # modify, request phase
    content: str | None = None                # modify, response phase

    @property
    def failed(self) -> bool:
        return self.outcome in (Outcome.TIMEOUT, Outcome.ERROR, Outcome.INVALID)


class WebhookClient:
    """Calls hooks over one shared session."""

    def __init__(self, hooks: Sequence[GuardrailWebhook]) -> None:
        self.hooks = tuple(hooks)
        self._session: aiohttp.ClientSession | None = None

    def for_phase(self, phase: str) -> tuple[GuardrailWebhook, ...]:
        return tuple(hook for hook in self.hooks if hook.phase == phase)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # One timeout per call, asyncio's (below): aiohttp's own would add timers per call.
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256, ttl_dns_cache=60),
                                                  timeout=aiohttp.ClientTimeout(total=None))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, hook: GuardrailWebhook, payload: JSON) -> Reply:
        """One call; never raises for anything the hook does (its failures are a Reply)."""
        timeout = hook.timeout_ms / 1000
        try:
            async with asyncio.timeout(timeout):
                async with self._client().post(hook.url, data=orjson.dumps(payload),
                                               headers=_JSON_HEADERS, allow_redirects=False) as response:
                    if not 200 <= response.status < 300:
                        return Reply(Outcome.ERROR, f"it answered HTTP {response.status}")
                    body = await response.content.read(MAX_REPLY_BYTES + 1)
        except TimeoutError:
            return Reply(Outcome.TIMEOUT, f"no answer within {hook.timeout_ms} ms")
        except aiohttp.ClientError as exc:
            return Reply(Outcome.ERROR, f"it could not be reached ({type(exc).__name__})")
        if len(body) > MAX_REPLY_BYTES:
            return Reply(Outcome.INVALID, "its reply is too large")
        return parse_reply(body, hook.phase)


def parse_reply(body: bytes, phase: str) -> Reply:
    """A hook's reply, checked against the contract for its phase."""
    try:
        reply = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Reply(Outcome.INVALID, "its reply is not JSON")
    if not isinstance(reply, dict):
        return Reply(Outcome.INVALID, "its reply is not a JSON object")
    action = reply.get("action")
    if action == "allow":
        return Reply(Outcome.ALLOW)
    if action == "block":
        reason = reply.get("reason")
        reason = reason if isinstance(reason, str) and reason else "no reason given"
        return Reply(Outcome.BLOCK, reason[:MAX_REASON_CHARS])
    if action == "modify":
        if phase == "request":
            messages = reply.get("messages")
            if (isinstance(messages, list) and messages
                    and all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages)):
                return Reply(Outcome.MODIFY, messages=messages)
            return Reply(Outcome.INVALID, "modify needs `messages`: a non-empty list of messages with a role")
        content = reply.get("content")
        if isinstance(content, str):
            return Reply(Outcome.MODIFY, content=content)
        return Reply(Outcome.INVALID, "modify needs `content`: a string")
    return Reply(Outcome.INVALID, "its reply has no known action (allow, block or modify)")


__all__ = ["MAX_REPLY_BYTES", "Outcome", "Reply", "WebhookClient", "parse_reply"]
