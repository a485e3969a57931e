"""What an API shape is: how client JSON becomes a ChatRequest, and how the answer and its
errors go back in the shape's own JSON. The request path (gateway/api/exchange.py) does
everything else, the same for every shape.

A new API (e.g. OpenAI Responses, Anthropic Messages) is:
- a parser      `parse(body) -> ChatRequest`: checks the client's JSON (InvalidRequest
                 naming the field, never a 500) and translates it to the OpenAI chat body
                 the pipeline and every provider understand (gateway/translate/); or, for a
                 shape that must read something first (the Responses API's stored
                 conversation), `prepare(body, ctx)`, the same but async and given the context
                 (it may set ctx.operation, e.g. to pass a body through unchanged);
- a renderer    `Renderer`: a whole answer (ctx.result, a chat.completion, or
                 ctx.embeddings) as the shape's bytes; `stream(ctx)` a StreamRenderer that
                 turns each chat.completion.chunk into the shape's events; `error()` and
                 `status()` a GatewayError as the shape's error body and status;
- optionally    `keep(ctx)`: asked before a whole answer and before each event of a stream
                 goes out; returns an awaitable once the answer is final and must be kept
                 first (the Responses API stores it: a client may continue from it at once),
                 else None;
- a route       `return await exchange.serve(request, runtime, SHAPE)`.
A shape whose parser or renderer keeps per-request state is built per request (a few
objects, off the chat path). Translation between shapes is pure functions, tested beside
the shape without a network.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request

from gateway.errors import GatewayError
from gateway.request import ClientApi, Operation, RequestContext
from gateway.translate.base import StreamRenderer
from providers.base import ChatRequest

Parse = Callable[[dict[str, Any]], ChatRequest]
Prepare = Callable[[dict[str, Any], RequestContext], Awaitable[ChatRequest]]
Keep = Callable[[RequestContext], Awaitable[None] | None]


class Renderer(Protocol):
    media_type: str

    def result(self, ctx: RequestContext) -> bytes:
        """A whole answer: ctx.result (redacted, usage known) or ctx.embeddings."""

    def stream(self, ctx: RequestContext) -> StreamRenderer: ...

    def error(self, error: GatewayError) -> bytes:
        """The body of an error response (its headers are the error's)."""

    def status(self, error: GatewayError) -> int:
        """The status of an error response in this shape."""


@dataclass(frozen=True, slots=True)
class ApiShape:
    operation: Operation
    api: ClientApi                                    # recorded as the usage record's `api`
    route: str                                        # the path, for the request's server span
    renderer: Renderer
    api_key: Callable[[Request], str | None]          # the caller's key from the request headers
    parse: Parse | None = None                        # client JSON -> ChatRequest
    prepare: Prepare | None = None                    # or this, async, instead of `parse`
    keep: Keep | None = None

    def __post_init__(self) -> None:
        if (self.parse is None) == (self.prepare is None):
            raise ValueError("an ApiShape has exactly one of `parse` and `prepare`")


__all__ = ["ApiShape", "Keep", "Parse", "Prepare", "Renderer", "StreamRenderer"]
