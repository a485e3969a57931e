"""What exchange.py offers a shape beyond parse and render: `kept` awaits the shape's keeper
before the event that carries the final answer goes out (and ends the relay whatever ends
the response), ApiShape takes exactly one parser, and `with_refusal` adds the field the
chat completion schema requires without touching upstream bytes that carry it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable

import orjson
import pytest

from gateway.api.deps import bearer_token
from gateway.api.exchange import kept, with_refusal
from gateway.api.openai import CHAT, ChatCompletions, parse_chat
from gateway.api.shape import ApiShape
from gateway.request import ClientApi, Operation, RequestContext
from providers.base import ChatRequest, ChatResult, Usage


def context() -> RequestContext:
    return RequestContext(request_id="r", api_key=None, request=ChatRequest({"model": "m"}))


class Keeper:
    """Final once the event b"final" has been rendered; records what happened in order."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.final = False
        self.done = False

    def keep(self, ctx: RequestContext) -> Awaitable[None] | None:
        if self.done or not self.final:
            return None
        self.done = True
        return self._store()

    async def _store(self) -> None:
        await asyncio.sleep(0)
        self.log.append("stored")


async def test_the_final_event_goes_out_only_after_it_is_kept() -> None:
    log: list[str] = []
    keeper = Keeper(log)
    closed: list[bool] = []

    async def events() -> AsyncGenerator[bytes, None]:
        try:
            yield b"first"
            keeper.final = True          # the renderer made the final answer with this event
            yield b"final"
            yield b"trailer"
        finally:
            closed.append(True)

    async for event in kept(context(), events(), keeper.keep):
        log.append(event.decode())
    assert log == ["first", "stored", "final", "trailer"]
    assert closed == [True]


async def test_a_response_closed_early_still_ends_the_relay() -> None:
    closed: list[bool] = []

    async def events() -> AsyncGenerator[bytes, None]:
        try:
            yield b"first"
            yield b"never read"
        finally:
            closed.append(True)     # where the relay runs its finishers

    stream = kept(context(), events(), lambda ctx: None)
    assert await anext(stream) == b"first"
    await stream.aclose()
    assert closed == [True]


def test_a_shape_has_exactly_one_parser() -> None:
    async def prepare(body: dict[str, object], ctx: RequestContext) -> ChatRequest:
        return ChatRequest(dict(body))

    with pytest.raises(ValueError, match="exactly one"):
        ApiShape(Operation.CHAT, ClientApi.CHAT, "/x", ChatCompletions(), bearer_token)
    with pytest.raises(ValueError, match="exactly one"):
        ApiShape(Operation.CHAT, ClientApi.CHAT, "/x", ChatCompletions(), bearer_token, parse=parse_chat,
                 prepare=prepare)
    assert CHAT.prepare is None and CHAT.keep is None     # the chat path awaits nothing extra


def test_refusal_null_is_added_where_missing_and_upstream_bytes_are_kept() -> None:
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]}
    result = ChatResult(body=body, usage=Usage(), raw=orjson.dumps(body))
    with_refusal(result)
    assert orjson.loads(result.to_bytes())["choices"][0]["message"]["refusal"] is None

    carried = b'{"choices":[{"index":0,"message":{"role":"assistant","content":"x","refusal":"no"}}]}'
    upstream = ChatResult(body=orjson.loads(carried), usage=Usage(), raw=carried)
    with_refusal(upstream)
    assert upstream.to_bytes() is carried
