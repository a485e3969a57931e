"""A simulated vLLM replica: a real aiohttp server on 127.0.0.1 that behaves, in time, like a
vLLM server under load -- enough for the picker to have something real to pick between.

- at most `max_running` requests run; the rest wait in a FIFO queue;
- a KV block cache with prefix reuse: the prompt (about `chars_per_token` characters a token)
  is cut into blocks of `block_size` tokens, each hash chained with the one before; leading
  blocks already cached are not prefilled again (an LRU of `kv_blocks` blocks);
- prefill takes `prefill_seconds_per_token` per uncached prompt token; each output token
  `decode_seconds_per_token`, `decode_slowdown` slower for every other running request;
- `/metrics` in vLLM's format (waiting, running, KV cache usage, cache_config_info, prefix
  cache counters), `/health`, `/v1/models`, and OpenAI-compatible chat completions, streamed
  or not, with usage (`prompt_tokens_details.cached_tokens`);
- deterministic: the answer's words come from the seed and the prompt.

    with ReplicaServer(ReplicaSpec(seed=1)) as replica: replica.url ...
    python -m tests.fakes.vllm_replica --ports 9301,9302 [--spec '{"max_running": 4}']
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import time
import zlib
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.support.threads import LoopThread, free_port

_WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
          "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()


@dataclass
class ReplicaSpec:
    max_running: int = 4
    kv_blocks: int = 2048
    block_size: int = 16
    chars_per_token: int = 4
    prefill_seconds_per_token: float = 0.0002
    decode_seconds_per_token: float = 0.005
    decode_slowdown: float = 0.1
    default_max_tokens: int = 16
    seed: int = 0
    model: str = "sim-model"
    legacy_metric_names: bool = False       # vllm:gpu_cache_usage_perc, as vLLM before v0.10


@dataclass
class Served:
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    queued_seconds: float


@dataclass
class SimulatedReplica:
    spec: ReplicaSpec = field(default_factory=ReplicaSpec)
    name: str = "replica"
    port: int = 0
    fail_status: int | None = None           # chat answers this status (e.g. 503)
    metrics_status: int | None = None        # /metrics answers this status
    metrics_delay: float = 0.0               # /metrics answers this late
    running: int = 0
    served: list[Served] = field(default_factory=list)
    prefix_queries: int = 0                  # prompt tokens seen (vllm:prefix_cache_queries_total)
    prefix_hits: int = 0                     # of which cached
    _queue: deque[asyncio.Future[None]] = field(default_factory=deque)
    _cache: OrderedDict[int, None] = field(default_factory=OrderedDict)
    _held: dict[int, int] = field(default_factory=dict)   # running request -> tokens in its KV blocks
    _next_id: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def waiting(self) -> int:
        return len(self._queue)

    @property
    def kv_cache_usage(self) -> float:
        blocks = sum(math.ceil(tokens / self.spec.block_size) for tokens in self._held.values())
        return min(1.0, blocks / self.spec.kv_blocks)

    # -- scheduling -------------------------------------------------------------------

    async def _admit(self) -> None:
        if self.running < self.spec.max_running and not self._queue:
            self.running += 1
            return
        slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(slot)
        try:
            await slot
        except asyncio.CancelledError:
            if slot.done() and not slot.cancelled():
                self._release()              # handed a slot just as the client left
            elif slot in self._queue:
                self._queue.remove(slot)
            raise

    def _release(self) -> None:
        while self._queue:
            slot = self._queue.popleft()
            if not slot.done():
                slot.set_result(None)        # the slot passes on: `running` stays
                return
        self.running -= 1

    def _lookup(self, text: str) -> tuple[int, int]:
        """(prompt tokens, cached tokens); the prompt's blocks become the most recent."""
        tokens = max(1, math.ceil(len(text) / self.spec.chars_per_token))
        chars = self.spec.block_size * self.spec.chars_per_token
        previous, matched, leading = 0, 0, True
        for start in range(0, (len(text) // chars) * chars, chars):
            previous = zlib.crc32(text[start:start + chars].encode(), previous)
            key = previous
            if leading and key in self._cache:
                matched += 1
                self._cache.move_to_end(key)
            else:
                leading = False
                self._cache[key] = None
        while len(self._cache) > self.spec.kv_blocks:
            self._cache.popitem(last=False)
        cached = min(matched * self.spec.block_size, tokens - 1)
        self.prefix_queries += tokens
        self.prefix_hits += cached
        return tokens, cached

    def _decode_delay(self) -> float:
        return self.spec.decode_seconds_per_token * (1 + self.spec.decode_slowdown * max(0, self.running - 1))

    # -- HTTP -------------------------------------------------------------------------

    async def chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _error(400, "malformed JSON")
        if self.fail_status is not None:
            return _error(self.fail_status, "simulated failure")
        text = _prompt(body)
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens") or self.spec.default_max_tokens
        words = _answer(self.spec.seed, text, int(max_tokens))
        arrived = time.monotonic()
        await self._admit()
        request_id = self._next_id
        self._next_id += 1
        try:
            queued = time.monotonic() - arrived
            prompt_tokens, cached = self._lookup(text)
            self._held[request_id] = prompt_tokens
            await asyncio.sleep((prompt_tokens - cached) * self.spec.prefill_seconds_per_token)
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(words),
                     "total_tokens": prompt_tokens + len(words),
                     "prompt_tokens_details": {"cached_tokens": cached}}
            head = {"id": f"chatcmpl-{self.name}-{request_id}", "created": int(time.time()),
                    "model": body.get("model", self.spec.model)}
            if body.get("stream"):
                response = await self._stream(request, body, head, words, usage, request_id)
            else:
                for _ in words:
                    await asyncio.sleep(self._decode_delay())
                    self._held[request_id] += 1
                response = web.Response(body=orjson.dumps({
                    **head, "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": " ".join(words)},
                                 "finish_reason": "length"}],
                    "usage": usage}), content_type="application/json")
            self.served.append(Served(prompt_tokens, cached, len(words), queued))
            return response
        finally:
            self._held.pop(request_id, None)
            self._release()

    async def _stream(self, request: web.Request, body: dict[str, Any], head: dict[str, Any],
                      words: list[str], usage: dict[str, Any], request_id: int) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        chunk = {**head, "object": "chat.completion.chunk"}

        async def send(event: dict[str, Any]) -> None:
            await response.write(b"data: " + orjson.dumps(event) + b"\n\n")

        await send({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                          "finish_reason": None}]})
        for i, word in enumerate(words):
            await asyncio.sleep(self._decode_delay())
            self._held[request_id] += 1
            await send({**chunk, "choices": [{"index": 0, "delta": {"content": (" " if i else "") + word},
                                              "finish_reason": None}]})
        await send({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            await send({**chunk, "choices": [], "usage": usage})
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def metrics(self, request: web.Request) -> web.Response:
        if self.metrics_delay:
            await asyncio.sleep(self.metrics_delay)
        if self.metrics_status is not None:
            return web.Response(status=self.metrics_status, text="metrics unavailable")
        return web.Response(text=self.metrics_text(), content_type="text/plain")

    def metrics_text(self) -> str:
        model = f'model_name="{self.spec.model}"'
        kv_name = "vllm:gpu_cache_usage_perc" if self.spec.legacy_metric_names else "vllm:kv_cache_usage_perc"
        lines = [
            "# HELP vllm:num_requests_running Number of requests in model execution batches.",
            "# TYPE vllm:num_requests_running gauge",
            f"vllm:num_requests_running{{engine=\"0\",{model}}} {float(self.running)}",
            "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
            "# TYPE vllm:num_requests_waiting gauge",
            f"vllm:num_requests_waiting{{engine=\"0\",{model}}} {float(self.waiting)}",
            f"# HELP {kv_name} KV-cache usage. 1 means 100 percent usage.",
            f"# TYPE {kv_name} gauge",
            f"{kv_name}{{engine=\"0\",{model}}} {self.kv_cache_usage}",
            "# TYPE vllm:prefix_cache_queries_total counter",
            f"vllm:prefix_cache_queries_total{{engine=\"0\",{model}}} {float(self.prefix_queries)}",
            "# TYPE vllm:prefix_cache_hits_total counter",
            f"vllm:prefix_cache_hits_total{{engine=\"0\",{model}}} {float(self.prefix_hits)}",
            "# TYPE vllm:cache_config_info gauge",
            f"vllm:cache_config_info{{block_size=\"{self.spec.block_size}\",cache_dtype=\"auto\","
            f"enable_prefix_caching=\"True\",num_gpu_blocks=\"{self.spec.kv_blocks}\"}} 1.0",
            "# TYPE vllm:time_to_first_token_seconds histogram",
        ]
        lines += [f"vllm:time_to_first_token_seconds_bucket{{le=\"{le}\",{model}}} 0.0"
                  for le in ("0.001", "0.005", "0.01", "0.02", "0.04", "0.06", "0.08", "0.1", "+Inf")]
        return "\n".join(lines) + "\n"

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="")

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": self.spec.model, "object": "model",
                                                              "owned_by": "vllm"}]})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/health", self.health)
        return app


def _prompt(body: dict[str, Any]) -> str:
    parts: list[str] = []
    for message in body.get("messages") or ():
        if isinstance(message, dict):
            parts.append(str(message.get("role", "")))
            content = message.get("content")
            parts.append(content if isinstance(content, str) else orjson.dumps(content).decode())
    return "\n".join(parts)


def _answer(seed: int, text: str, max_tokens: int) -> list[str]:
    rng = random.Random(seed * 1_000_003 + zlib.crc32(text.encode()))
    return [rng.choice(_WORDS) for _ in range(max(1, max_tokens))]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "server_error", "code": status}},
                             status=status)


class ReplicaServer:
    """Serves a simulated replica on a free port in its own thread; `kill()` stops it at once
    (new connections are refused, open ones cut), as a crashed pod would."""

    def __init__(self, spec: ReplicaSpec | None = None, name: str = "replica", port: int = 0) -> None:
        self.replica = SimulatedReplica(spec or ReplicaSpec(), name=name)
        self._port = port
        self._thread: LoopThread | None = None
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> SimulatedReplica:
        self._thread = LoopThread(f"vllm-{self.replica.name}")
        self.replica.port = self._port or free_port()
        self.start()
        return self.replica

    def start(self) -> None:
        assert self._thread is not None
        app = self.replica.app()

        async def start() -> None:
            self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.replica.port).start()

        self._thread.call(start)

    def kill(self) -> None:
        if self._thread is not None and self._runner is not None:
            runner, self._runner = self._runner, None
            self._thread.call(runner.cleanup, timeout=10)

    def __exit__(self, *exc: object) -> None:
        self.kill()
        if self._thread is not None:
            self._thread.call(_cancel_leftovers, timeout=10)
            self._thread.stop()


async def _cancel_leftovers() -> None:
    """Handlers a kill cut short, so that the loop stops with nothing pending."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def serve(ports: list[int], spec: ReplicaSpec) -> None:
    runners = []
    for i, port in enumerate(ports):
        replica = SimulatedReplica(ReplicaSpec(**{**asdict(spec), "seed": spec.seed + i}), name=f"r{i}", port=port)
        runner = web.AppRunner(replica.app(), handle_signals=True, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--ports", required=True, help="comma-separated ports, one replica each")
    parser.add_argument("--spec", default="{}", help="ReplicaSpec fields as JSON")
    args = parser.parse_args()
    spec = ReplicaSpec(**orjson.loads(args.spec))
    try:
        asyncio.run(serve([int(p) for p in args.ports.split(",")], spec))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
