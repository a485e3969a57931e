"""A pool of vLLM replicas serving one model: each request goes to the replica the picker
ranks first, and, when that one refuses the connection or answers 429/5xx before its first
byte, to the next (at most MAX_ATTEMPTS replicas). A stream is never moved after its first byte.

Off the request path (members.py), a scrape loop reads each replica's /metrics every
interval and a discovery loop re-resolves the DNS name (when `discovery:` is set). Each
replica is called through its own OpenAI-compatible client (providers/openai_compat.py),
unchanged. When every replica is saturated, the request waits here (`policy: queue`) or is
refused (`policy: reject`), as config.Saturation says.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from opentelemetry import trace

from providers.base import (
    JSON,
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingsResult,
    ErrorKind,
    Provider,
    ProviderConfig,
    ProviderError,
    Timeouts,
)
from providers.openai_compat import OpenAICompatibleProvider
from providers.vllm.breaker import counts_against_replica
from providers.vllm.config import CLIENT_OPTIONS, POOL_OPTIONS, PoolOptions, parse_options
from providers.vllm.discovery import DnsDiscovery, ReplicaSource, StaticEndpoints
from providers.vllm.members import Members
from providers.vllm.picker import (
    FALLBACK,
    NO_REPLICA,
    QUEUED,
    REJECTED,
    LoadAwarePicker,
    Pick,
    Picker,
    RoundRobinPicker,
)
from providers.vllm.prefix import PrefixIndex, block_hashes, prompt_text
from providers.vllm.replica import Replica, ReplicaClient

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3                       # replicas tried for one request before its first byte
_MOVES_ON = frozenset({ErrorKind.CONNECT, ErrorKind.SERVER, ErrorKind.RATE_LIMITED})

DecisionObserver = Callable[[str, str, str], None]     # (provider, replica, reason)


class VLLMProvider(Provider):
    type = "vllm"
    genai_system = "vllm"
    options = POOL_OPTIONS | CLIENT_OPTIONS
    identity_options = ("endpoints", "discovery")    # two entries over the same replicas share a breaker

    def __init__(self, name: str, pool: PoolOptions, *, api_key: str | None = None,
                 timeouts: Timeouts | None = None, headers: dict[str, str] | None = None,
                 source: ReplicaSource | None = None) -> None:
        self.name = name
        self.pool = pool
        self.timeouts = timeouts or Timeouts()
        if source is None:
            if pool.discovery is not None:
                source = DnsDiscovery(pool.discovery)
            else:
                source = StaticEndpoints(pool.endpoints or [])

        def client(root: str) -> OpenAICompatibleProvider:
            return ReplicaClient(name, [root + "/v1"], api_key=api_key, timeouts=self.timeouts, headers=headers)

        self.members = Members(name, pool, source, client, on_round=self._on_round, on_leave=self._on_leave)
        self.picker: Picker = (RoundRobinPicker() if pool.picker == "round-robin" else
                               LoadAwarePicker(pool.weights, pool.saturation, pool.scrape.stale_seconds))
        self.prefix = PrefixIndex(pool.prefix.remembered_blocks)
        self.on_decision: DecisionObserver | None = None
        self._queued = 0
        self._room: asyncio.Event | None = None

    @classmethod
    def from_config(cls, config: ProviderConfig) -> VLLMProvider:
        options = config.options
        pool = parse_options(config.name, options)
        return cls(config.name, pool, api_key=options.get("api_key"),
                   timeouts=Timeouts.from_options(options.get("timeouts")), headers=options.get("headers"))

    @classmethod
    def check_options(cls, name: str, options: Mapping[str, Any]) -> None:
        """Raises ValueError naming the key when gateway.yaml's options are wrong (at load)."""
        parse_options(name, dict(options))
        Timeouts.from_options(options.get("timeouts"))

    # -- lifecycle --------------------------------------------------------------------

    @property
    def replicas(self) -> list[Replica]:
        return self.members.replicas

    async def start(self) -> None:
        await self.members.start()

    async def close(self) -> None:
        await self.members.close()

    def _on_round(self) -> None:
        """After each scrape round: re-rank, and let queued requests look again."""
        self.picker.refresh(self.members.replicas, time.monotonic())
        self._wake()

    def _on_leave(self, replica: Replica) -> None:
        self.prefix.forget(replica.key)

    # -- placing a request ------------------------------------------------------------

    def _hashes(self, request: ChatRequest) -> list[int]:
        if isinstance(self.picker, RoundRobinPicker):
            return []
        prefix = self.pool.prefix
        chars = self.members.block_tokens * prefix.chars_per_token * prefix.group_blocks
        return block_hashes(prompt_text(request.body), chars, prefix.max_blocks)

    def place(self, hashes: list[int]) -> Pick:
        """The picker's ranking for a prompt's blocks, now (no waiting)."""
        matches = self.prefix.matches(hashes) if hashes else {}
        return self.picker.pick(self.replicas, matches, len(hashes), time.monotonic())

    async def _placed(self, hashes: list[int]) -> Pick:
        """The ranking to try; when every replica is saturated, waits for room (`policy: queue`,
        first come first served: a newcomer queues behind those already waiting) or refuses."""
        pick = self.place(hashes)
        if pick.order and not self._queued:
            return pick
        if not pick.order and not pick.saturated:
            raise self._no_replica()
        saturation = self.pool.saturation
        if saturation.policy == "reject" or self._queued >= saturation.max_queued:
            raise self._rejected("every replica is saturated")
        self._queued += 1
        deadline = time.monotonic() + saturation.max_wait_seconds
        try:
            while True:
                if self._room is None:
                    self._room = asyncio.Event()
                room = self._room
                try:
                    async with asyncio.timeout_at(asyncio.get_running_loop().time()
                                                  + max(0.0, deadline - time.monotonic())):
                        await room.wait()
                except TimeoutError:
                    raise self._rejected(f"every replica stayed saturated for "
                                         f"{saturation.max_wait_seconds:g}s") from None
                pick = self.place(hashes)
                if pick.order:
                    pick.reason = QUEUED
                    return pick
                if not pick.saturated:
                    raise self._no_replica()
        finally:
            self._queued -= 1

    def _wake(self) -> None:
        """Room may have appeared (a scrape, a request's end): queued requests look again,
        in the order they came."""
        if self._queued and self._room is not None:
            room, self._room = self._room, asyncio.Event()
            room.set()

    def _rejected(self, why: str) -> ProviderError:
        self._observe("none", REJECTED)
        retry_after = self.pool.saturation.retry_after_seconds
        return ProviderError(ErrorKind.RATE_LIMITED, f"vLLM pool {self.name!r}: {why}", status=429,
                             retry_after=retry_after, provider=self.name)

    def _no_replica(self) -> ProviderError:
        self._observe("none", NO_REPLICA)
        return ProviderError(ErrorKind.CONNECT, f"vLLM pool {self.name!r} has no replica available",
                             status=503, provider=self.name)

    def _observe(self, replica: str, reason: str) -> None:
        if self.on_decision is not None:
            self.on_decision(self.name, replica, reason)

    def _begin(self, replica: Replica, hashes: list[int], reason: str, pick: Pick) -> None:
        replica.breaker.begin(time.monotonic())
        replica.in_flight += 1
        replica.sent_since_scrape += 1
        replica.picks += 1
        if hashes:
            self.prefix.record(hashes, replica.key, pick.matches.get(replica.key, 0))
        self._observe(replica.key, reason)
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute("gateway.replica", replica.key)
            span.set_attribute("gateway.picker.reason", reason)
            span.set_attribute("server.address", replica.host)
            if replica.port is not None:
                span.set_attribute("server.port", replica.port)

    def _verdict(self, replica: Replica, error: ErrorKind | None) -> None:
        if error is None:
            replica.breaker.success()
        elif counts_against_replica(error):
            replica.breaker.failure(time.monotonic())
        else:
            replica.breaker.abandoned()

    def _release(self, replica: Replica) -> None:
        replica.in_flight -= 1
        if replica.removed and replica.in_flight == 0:
            self.members.close_later(replica)
        self._wake()

    def _attempts(self, pick: Pick) -> list[tuple[Replica, str]]:
        return [(replica, pick.reason if i == 0 else FALLBACK)
                for i, replica in enumerate(pick.order[:MAX_ATTEMPTS])]

    # -- chat -------------------------------------------------------------------------

    async def chat(self, request: ChatRequest, upstream_model: str) -> ChatResult:
        hashes = self._hashes(request)
        pick = await self._placed(hashes)
        last: ProviderError | None = None
        for replica, reason in self._attempts(pick):
            if last is not None and not replica.breaker.allows(time.monotonic()):
                continue
            self._begin(replica, hashes, reason, pick)
            try:
                result = await replica.client.chat(request, upstream_model)
            except ProviderError as exc:
                self._verdict(replica, exc.kind)
                self._release(replica)
                if exc.kind not in _MOVES_ON:
                    raise
                last = exc
                continue
            except BaseException:
                replica.breaker.abandoned()
                self._release(replica)
                raise
            self._verdict(replica, None)
            self._release(replica)
            return result
        raise last or self._no_replica()

    async def _open_stream(self, replica: Replica, request: ChatRequest,
                           upstream_model: str) -> AsyncIterator[ChatChunk]:
        return replica.client.chat_stream(request, upstream_model)

    async def chat_stream(self, request: ChatRequest, upstream_model: str) -> AsyncIterator[ChatChunk]:
        """The first `__anext__` places the request and waits for a replica's first chunk;
        a failure before it moves to the next replica, or raises ProviderError."""
        hashes = self._hashes(request)
        pick = await self._placed(hashes)
        last: ProviderError | None = None
        for replica, reason in self._attempts(pick):
            if last is not None and not replica.breaker.allows(time.monotonic()):
                continue
            self._begin(replica, hashes, reason, pick)
            stream: AsyncIterator[ChatChunk] | None = None
            try:
                stream = await self._open_stream(replica, request, upstream_model)
                first = await anext(stream)
            except ProviderError as exc:
                await _close(stream)
                self._verdict(replica, exc.kind)
                self._release(replica)
                if exc.kind not in _MOVES_ON:
                    raise
                last = exc
                continue
            except StopAsyncIteration:
                self._verdict(replica, ErrorKind.BAD_RESPONSE)
                self._release(replica)
                raise ProviderError(ErrorKind.BAD_RESPONSE, "upstream sent an empty stream", status=502,
                                    provider=self.name) from None
            except BaseException:
                await _close(stream)
                replica.breaker.abandoned()
                self._release(replica)
                raise
            self._verdict(replica, None)
            try:
                yield first
                async for chunk in stream:
                    yield chunk
            except ProviderError as exc:
                self._verdict(replica, exc.kind)
                raise
            finally:
                self._release(replica)
                await _close(stream)
            return
        raise last or self._no_replica()

    async def embeddings(self, body: JSON, upstream_model: str) -> EmbeddingsResult:
        pick = await self._placed([])
        last: ProviderError | None = None
        for replica, reason in self._attempts(pick):
            self._begin(replica, [], reason, pick)
            try:
                result = await replica.client.embeddings(body, upstream_model)
            except ProviderError as exc:
                self._verdict(replica, exc.kind)
                if exc.kind not in _MOVES_ON:
                    raise
                last = exc
                continue
            finally:
                self._release(replica)
            self._verdict(replica, None)
            return result
        raise last or self._no_replica()

    # -- what operators see -----------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The pool for GET /admin/providers and /readyz: every replica's last figures and score."""
        now = time.monotonic()
        replicas = [r.view(now, self.pool.scrape.stale_seconds) for r in self.replicas]
        return {
            "provider": self.name,
            "picker": self.pool.picker,
            "saturation_policy": self.pool.saturation.policy,
            "queued": self._queued,
            "replicas": replicas,
            "live": sum(1 for r in replicas if r["breaker"] != "open"),
        }


async def _close(stream: AsyncIterator[ChatChunk] | None) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
