"""A vLLM pool's options (gateway.yaml `providers.<name>` of `type: vllm`), checked once at load.

    pool:
      type: vllm
      endpoints: [http://vllm-0:8000, http://vllm-1:8000]      # or discovery:
      discovery: {dns: vllm-headless.models.svc.cluster.local, port: 8000, refresh_seconds: 5}
      picker: load-aware           # load-aware (default) | round-robin
      weights: {queue: 2, kv_cache: 2, prefix: 3}
      saturation: {queue_depth: 5, kv_cache: 0.8, policy: queue, max_queued: 256, max_wait_seconds: 10}
      scrape: {interval_seconds: 0.05, stale_seconds: 0.2, timeout_seconds: 1}
      breaker: {cooldown_seconds: 5}
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# Options handled by the OpenAI-compatible client of each replica, not by the pool.
CLIENT_OPTIONS = frozenset({"api_key", "timeouts", "headers"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Weights(_Strict):
    """How much each scorer counts; each scorer's value is in [0, 1]."""

    queue: float = Field(default=2.0, ge=0)
    kv_cache: float = Field(default=2.0, ge=0)
    prefix: float = Field(default=3.0, ge=0)


class Saturation(_Strict):
    """A replica is saturated at `queue_depth` waiting requests or `kv_cache` usage. When every
    replica with fresh figures is saturated (and none is unknown), `policy` says what happens:
    `queue` holds the request in the gateway (at most `max_queued` at once, each at most
    `max_wait_seconds`) until a replica has room; `reject` answers at once. Either way a
    request that cannot be placed fails as 429 with Retry-After `retry_after_seconds`
    (the router then tries the model's other deployments, else answers 503 with Retry-After)."""

    queue_depth: int = Field(default=5, ge=1)
    kv_cache: float = Field(default=0.8, gt=0, le=1)
    policy: Literal["queue", "reject"] = "queue"
    max_queued: int = Field(default=256, ge=0)
    max_wait_seconds: float = Field(default=10.0, gt=0)
    retry_after_seconds: float = Field(default=1.0, gt=0)


class Scrape(_Strict):
    """Each replica's /metrics is read every `interval_seconds`, off the request path; figures
    older than `stale_seconds` (or a replica that does not answer) count as unknown."""

    interval_seconds: float = Field(default=0.05, gt=0)
    stale_seconds: float = Field(default=0.2, gt=0)
    timeout_seconds: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _stale_after_interval(self) -> Scrape:
        if self.stale_seconds <= self.interval_seconds:
            raise ValueError("stale_seconds must be longer than interval_seconds")
        return self


class Discovery(_Strict):
    """A Kubernetes headless service: every address the name resolves to is a replica."""

    dns: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    refresh_seconds: float = Field(default=5.0, gt=0)
    scheme: Literal["http", "https"] = "http"


class Prefix(_Strict):
    """Prefix affinity: the prompt is cut into blocks of `group_blocks` x `block_tokens` x
    `chars_per_token` characters (block_tokens defaults to the replica's own KV block size from
    its /metrics, else 16; group_blocks 4, so one hash per 64 tokens: a 3,000-token prompt costs
    ~47 hashes, ~10 us, where one per KV block cost ~40 us); at most `max_blocks` leading
    blocks count; `remembered_blocks` bounds the table."""

    chars_per_token: int = Field(default=4, ge=1)
    block_tokens: int | None = Field(default=None, ge=1)
    group_blocks: int = Field(default=4, ge=1)
    max_blocks: int = Field(default=256, ge=1)
    remembered_blocks: int = Field(default=200_000, ge=1)


class Breaker(_Strict):
    """A replica that refuses connections, times out or answers 429/5xx is skipped for
    `cooldown_seconds`, then given one trial request."""

    cooldown_seconds: float = Field(default=5.0, gt=0)


class PoolOptions(_Strict):
    endpoints: list[str] | None = None
    discovery: Discovery | None = None
    picker: Literal["load-aware", "round-robin"] = "load-aware"
    weights: Weights = Weights()
    saturation: Saturation = Saturation()
    scrape: Scrape = Scrape()
    prefix: Prefix = Prefix()
    breaker: Breaker = Breaker()

    @model_validator(mode="after")
    def _one_source(self) -> PoolOptions:
        if (self.endpoints is None) == (self.discovery is None):
            raise ValueError("give either `endpoints` (a non-empty list of URLs) or `discovery`")
        if self.endpoints is not None:
            if not self.endpoints:
                raise ValueError("`endpoints` must be a non-empty list of URLs")
            for url in self.endpoints:
                if not url.startswith(("http://", "https://")):
                    raise ValueError(f"endpoint {url!r} is not an http(s) URL")
        return self


POOL_OPTIONS = frozenset(PoolOptions.model_fields)


def parse_options(name: str, options: dict[str, Any]) -> PoolOptions:
    """The pool's options; a ValueError names the provider and the offending key."""
    pool = {k: v for k, v in options.items() if k not in CLIENT_OPTIONS}
    try:
        return PoolOptions.model_validate(pool)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ValueError(f"providers.{name}{'.' + where if where else ''}: {message}") from None
