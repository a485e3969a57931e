"""A near-instant fake OpenAI upstream for benchmarks: canned JSON and SSE answers, no work.

    python -m bench.fake_upstream --port 9100 [--stream-chunks 20] [--delay-ms 100]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import orjson
from aiohttp import web

COMPLETION = orjson.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "bench-model",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Benchmark answer of modest length."},
                 "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28},
})


def stream_body(chunks: int) -> bytes:
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "bench-model"}
    events = [{**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    events += [{**head, "choices": [{"index": 0, "delta": {"content": " word"}, "finish_reason": None}]}
               for _ in range(chunks)]
    events.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append({**head, "choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": chunks,
                                                    "total_tokens": 20 + chunks}})
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def build_app(stream_chunks: int, delay_ms: float = 0) -> web.Application:
    streamed = stream_body(stream_chunks)

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)     # a model's time to answer
        if b'"stream":true' in body.replace(b" ", b""):
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            await response.write(streamed)
            await response.write_eof()
            return response
        return web.Response(body=COMPLETION, content_type="application/json")

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "bench-model", "object": "model"}]})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--stream-chunks", type=int, default=20)
    parser.add_argument("--delay-ms", type=float, default=0, help="answer after this long (default: at once)")
    args = parser.parse_args()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    print(f"fake upstream on 127.0.0.1:{args.port} ({time.strftime('%H:%M:%S')})", flush=True)
    web.run_app(build_app(args.stream_chunks, args.delay_ms), host="127.0.0.1", port=args.port, print=None,
                access_log=None)


if __name__ == "__main__":
    main()
