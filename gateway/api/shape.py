"""What an API shape is: how client JSON becomes a ChatRequest, and how the answer and its
errors go back in the shape's own JSON. The request path (gateway/api/exchange.py) does
everything else, the same for every shape.

A new API (e.g. OpenAI Responses, Anthropic Messages) is:
- a parser      `parse(body) -> ChatRequest`: checks the client's JSON (InvalidRequest
                 naming the field, never a 500) and translates it to the OpenAI chat body
                 the pipeline and every provider understand;
- a renderer    `Renderer`: a whole answer (ctx.result, a chat.completion, or
                 ctx.embeddings) as the shape's bytes; `stream(ctx)` a StreamRenderer that
                 turns each chat.completion.chunk into the shape's events; `error()` a
                 GatewayError as the shape's error body;
- a route       `return await exchange.serve(request, runtime, SHAPE)`.
Translation between shapes is pure functions, tested beside the shape without a network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request

from gateway.errors import GatewayError
from gateway.request import Operation, RequestContext
from providers.base import ChatChunk, ChatRequest


class StreamRenderer(Protocol):
    """One streamed answer in a shape's events (may keep state: sequence numbers, open blocks)."""

    def chunk(self, chunk: ChatChunk) -> bytes | None:
        """The bytes to send for one (already redacted) chunk; None to send nothing."""

    def end(self) -> bytes:
        """The events that close a completed stream."""

    def error(self, error: GatewayError) -> bytes:
        """The event that ends a stream which failed after its first byte."""


class Renderer(Protocol):
    media_type: str

    def result(self, ctx: RequestContext) -> bytes:
        """A whole answer: ctx.result (redacted, usage known) or ctx.embeddings."""

    def stream(self, ctx: RequestContext) -> StreamRenderer: ...

    def error(self, error: GatewayError) -> bytes:
        """The body of an error response (status and headers are the error's)."""


@dataclass(frozen=True, slots=True)
class ApiShape:
    operation: Operation
    route: str                                        # the path, for the request's server span
    parse: Callable[[dict[str, Any]], ChatRequest]    # client JSON -> ChatRequest
    renderer: Renderer
    api_key: Callable[[Request], str | None]          # the caller's key from the request headers
