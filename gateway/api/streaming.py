"""Relaying a routed stream to the client, chunk by chunk as they arrive, in the events of
the client's API shape (a StreamRenderer). Answer redaction, usage (reported, or estimated
from what was produced), time to first token and the mapping of a mid-stream provider
failure to the client's error (gateway/errors.py) happen here, once for every shape. When
the stream ends -- completed, failed upstream, or abandoned by the client -- the pipeline's
finishers run once, with the usage produced so far."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable

import orjson

from gateway.api.shape import StreamRenderer
from gateway.cache.replay import StreamAssembler
from gateway.cache.storable import requested_choices
from gateway.errors import client_error
from gateway.pipeline import Pipeline
from gateway.request import CacheStatus, Outcome, RequestContext
from providers.base import ChatChunk, ProviderError, Usage
from providers.tokens import estimate_prompt_tokens, tokens_for_chars


def _delta_text(chunk: ChatChunk) -> int:
    """Characters of generated text in a chunk (content and tool-call arguments)."""
    size = 0
    for choice in chunk.data.get("choices") or ():
        delta = choice.get("delta") or {}
        content = delta.get("content")
        if isinstance(content, str):
            size += len(content)
        for call in delta.get("tool_calls") or ():
            arguments = (call.get("function") or {}).get("arguments")
            if isinstance(arguments, str):
                size += len(arguments)
    return size


def replayed(chunks: Iterable[dict]) -> AsyncIterator[ChatChunk]:  # type: ignore[type-arg]
    async def gen() -> AsyncIterator[ChatChunk]:
        for data in chunks:
            yield ChatChunk(data=data)
    return gen()


async def relay(ctx: RequestContext, stream: AsyncIterator[ChatChunk], pipeline: Pipeline,
                background: set[asyncio.Task[None]], render: StreamRenderer) -> AsyncGenerator[bytes, None]:
    storing = ctx.cache_key is not None and ctx.cache_write and ctx.cache_status is not CacheStatus.HIT
    assembler = StreamAssembler(requested_choices(ctx.request.body)) if storing else None
    redactor = pipeline.guardrails.stream_redactor(ctx)
    validation = pipeline.validation.stream_validation(ctx) if pipeline.validation is not None else None
    produced_chars = 0
    try:
        while True:
            waited_from = time.perf_counter()
            try:
                chunk = await anext(stream)
            except StopAsyncIteration:
                break
            finally:
                ctx.upstream_seconds += time.perf_counter() - waited_from
            if ctx.first_token_at is None:
                ctx.first_token_at = time.perf_counter()
            usage = chunk.usage
            if usage is not None:
                ctx.usage = usage
            produced_chars += _delta_text(chunk)
            if validation is not None:   # the model's answer, as it came (before answer redaction)
                validation.add(chunk.data)
            # With response redaction one chunk may become two: held text goes out before a finish.
            for out in (chunk,) if redactor is None else [ChatChunk(data=d) for d in redactor.chunk(chunk.data)]:
                if assembler is not None:
                    assembler.add(out.data)
                event = render.chunk(out)
                if event is not None:
                    yield event
        for data in redactor.end() if redactor is not None else ():   # held by a choice that never finished
            if assembler is not None:
                assembler.add(data)
            event = render.chunk(ChatChunk(data=data))
            if event is not None:
                yield event
        if validation is not None:   # judged at the end: a verdict chunk, or the error instead of the end
            mark, rejected = validation.end()
            if rejected is not None:
                ctx.fail(rejected)
                yield render.error(rejected)
                return
            if mark is not None:
                event = render.chunk(ChatChunk(data=mark))
                if event is not None:
                    yield event
        yield render.end()
        if assembler is not None and assembler.complete:
            ctx.completion = orjson.dumps(assembler.completion())
    except ProviderError as exc:
        # After the first byte there is no fallback: end the client's stream with the shape's
        # error event (the OpenAI SDK raises it as an APIError), never a hang.
        error = client_error(exc)
        ctx.fail(error)
        yield render.error(error)
    except (asyncio.CancelledError, GeneratorExit):
        ctx.outcome = Outcome.CLIENT_CLOSED
        ctx.http_status = 499
        raise
    finally:
        ctx.finished_at = time.perf_counter()
        aclose = getattr(stream, "aclose", None)
        if ctx.usage is None and ctx.route is not None:
            # The upstream never reported usage (cut or abandoned): charge what was produced.
            ctx.usage = Usage(prompt_tokens=estimate_prompt_tokens(ctx.request.messages),
                              completion_tokens=tokens_for_chars(produced_chars))
        await finish_detached(ctx, pipeline, background, aclose)


async def finish_detached(ctx: RequestContext, pipeline: Pipeline, background: set[asyncio.Task[None]],
                          aclose: object = None) -> None:
    """Runs the finishers in their own task: a client that goes away cancels the response,
    and that cancellation must not cut the charge short."""

    async def finish() -> None:
        if callable(aclose):
            try:
                await aclose()
            except Exception:  # the upstream connection is being dropped anyway
                pass
        await pipeline.finish(ctx)

    task = asyncio.get_running_loop().create_task(finish())
    background.add(task)
    task.add_done_callback(background.discard)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        pass   # the task goes on; shutdown waits for `background`
