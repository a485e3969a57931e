"""One replica of a pool: its client, its last scraped figures, its breaker, its counters."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from providers.base import ProviderConfig
from providers.openai_compat import OpenAICompatibleProvider
from providers.vllm.breaker import ReplicaBreaker
from providers.vllm.scrape import Figures


class ReplicaClient(OpenAICompatibleProvider):
    """The OpenAI-compatible client of one replica (its server root + /v1). Built by its pool,
    which owns the gateway.yaml entry; never a provider entry of its own."""

    type = "vllm"
    genai_system = "vllm"

    @classmethod
    def from_config(cls, config: ProviderConfig) -> ReplicaClient:
        raise TypeError("a replica client is built by its vLLM pool (providers/vllm/provider.py)")


@dataclass(eq=False, slots=True)
class Replica:
    root: str                               # http://host:port (the server; routes under /v1)
    client: OpenAICompatibleProvider
    breaker: ReplicaBreaker
    key: str = ""                           # host:port: the metric label and the prefix index's name
    figures: Figures | None = None
    scrape_error: str | None = None         # why the last scrape failed (an exception's type)
    sent_since_scrape: int = 0              # picks since `figures` was read: not yet in them
    in_flight: int = 0
    picks: int = 0
    score: float | None = None              # the last load-aware score (None: unknown)
    removed: bool = False                   # gone from discovery; closed once idle
    scrape_task: asyncio.Task[None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # host:port only: credentials in a URL's userinfo never reach a label, a span or a page.
        parts = urlsplit(self.root)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        self.key = f"{host}:{parts.port}" if parts.port else host

    @property
    def host(self) -> str:
        return urlsplit(self.root).hostname or ""

    @property
    def port(self) -> int | None:
        return urlsplit(self.root).port

    def view(self, now: float, stale: float) -> dict[str, Any]:
        """What GET /admin/providers shows for this replica."""
        figures = self.figures
        if figures is None:
            metrics = "unreachable" if self.scrape_error else "pending"
        else:
            metrics = "stale" if now - figures.at > stale else "fresh"
        return {
            "replica": self.key,
            "url": f"{urlsplit(self.root).scheme}://{self.key}",
            "breaker": self.breaker.state(now).value,
            "breaker_retry_after_seconds": round(self.breaker.retry_after(now), 3),
            "metrics": metrics,
            "scrape_error": self.scrape_error,
            "waiting": figures.waiting if figures else None,
            "running": figures.running if figures else None,
            "kv_cache_usage": round(figures.kv_cache, 4) if figures else None,
            "block_size": figures.block_size if figures else None,
            "metrics_age_seconds": round(now - figures.at, 3) if figures else None,
            "score": round(self.score, 4) if self.score is not None else None,
            "in_flight": self.in_flight,
            "picks": self.picks,
        }
