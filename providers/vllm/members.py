"""A pool's replicas: who they are (discovery) and how loaded (scraping), kept up to date
off the request path. Every `scrape.interval_seconds` each replica's /metrics is read (one
scrape in flight per replica, bounded by `scrape.timeout_seconds`); then `on_round` runs
(the picker re-ranks). With `discovery:`, the name is re-resolved every `refresh_seconds`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import aiohttp

from providers.openai_compat import OpenAICompatibleProvider
from providers.vllm.breaker import ReplicaBreaker
from providers.vllm.config import PoolOptions
from providers.vllm.discovery import ReplicaSource, StaticEndpoints
from providers.vllm.replica import Replica
from providers.vllm.scrape import ScrapeError, parse_metrics

log = logging.getLogger(__name__)

_DEFAULT_BLOCK_TOKENS = 16
_DEFAULT_REFRESH_SECONDS = 5.0


class Members:
    def __init__(self, name: str, options: PoolOptions, source: ReplicaSource,
                 client: Callable[[str], OpenAICompatibleProvider], *, on_round: Callable[[], None],
                 on_leave: Callable[[Replica], None]) -> None:
        self.name = name
        self.options = options
        self.source = source
        self.replicas: list[Replica] = []
        self.block_tokens = options.prefix.block_tokens or _DEFAULT_BLOCK_TOKENS
        self._client = client
        self._on_round = on_round
        self._on_leave = on_leave
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        if isinstance(source, StaticEndpoints):
            self.apply(source.roots)

    async def start(self) -> None:
        if self._tasks:
            return
        await self.refresh()
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.options.scrape.timeout_seconds),
            connector=aiohttp.TCPConnector(limit=0), skip_auto_headers=("User-Agent",))
        self._tasks.append(asyncio.create_task(self._scrape_loop(), name=f"vllm-scrape-{self.name}"))
        if not isinstance(self.source, StaticEndpoints):
            self._tasks.append(asyncio.create_task(self._discovery_loop(), name=f"vllm-discovery-{self.name}"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for replica in self.replicas:
            if replica.scrape_task is not None:
                replica.scrape_task.cancel()
            await replica.client.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- discovery --------------------------------------------------------------------

    async def _discovery_loop(self) -> None:
        discovery = self.options.discovery
        every = discovery.refresh_seconds if discovery is not None else _DEFAULT_REFRESH_SECONDS
        while True:
            await asyncio.sleep(every)
            await self.refresh()

    async def refresh(self) -> None:
        try:
            roots = await self.source.resolve()
        except OSError as exc:
            log.warning("vllm pool %s: discovery failed (%s); keeping %d replicas",
                        self.name, type(exc).__name__, len(self.replicas))
            return
        self.apply(roots)

    def apply(self, roots: list[str]) -> None:
        """Adds the replicas that appeared and drops those that went (a dropped one is
        closed once its requests end)."""
        current = {r.root: r for r in self.replicas}
        wanted = set(roots)
        kept = [r for r in self.replicas if r.root in wanted]
        for root in roots:
            if root not in current:
                kept.append(Replica(root, self._client(root), ReplicaBreaker(self.options.breaker.cooldown_seconds)))
                log.info("vllm pool %s: replica %s joined", self.name, root)
        for replica in self.replicas:
            if replica.root not in wanted:
                replica.removed = True
                self._on_leave(replica)
                if replica.scrape_task is not None:
                    replica.scrape_task.cancel()
                log.info("vllm pool %s: replica %s left", self.name, replica.root)
                if replica.in_flight == 0:
                    self.close_later(replica)
        self.replicas = kept

    def close_later(self, replica: Replica) -> None:
        with contextlib.suppress(RuntimeError):      # no running loop: nothing was opened
            asyncio.get_running_loop().create_task(replica.client.close())

    # -- scraping ---------------------------------------------------------------------

    async def _scrape_loop(self) -> None:
        interval = self.options.scrape.interval_seconds
        while True:
            for replica in self.replicas:
                if replica.scrape_task is None or replica.scrape_task.done():
                    replica.scrape_task = asyncio.create_task(self._scrape(replica))
            await asyncio.sleep(interval)
            self._on_round()

    async def _scrape(self, replica: Replica) -> None:
        session = self._session
        assert session is not None
        try:
            async with session.get(replica.root + "/metrics") as response:
                if response.status != 200:
                    raise ScrapeError(f"/metrics answered {response.status}")
                text = await response.text()
            figures = parse_metrics(text, time.monotonic())
        except ScrapeError as exc:
            replica.scrape_error = str(exc)
            return
        except (aiohttp.ClientError, OSError, TimeoutError, UnicodeDecodeError) as exc:
            replica.scrape_error = type(exc).__name__
            return
        replica.figures = figures
        replica.sent_since_scrape = 0
        replica.scrape_error = None
        if figures.block_size and self.options.prefix.block_tokens is None:
            self.block_tokens = figures.block_size
