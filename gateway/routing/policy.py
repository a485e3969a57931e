"""gateway.yaml `routing:`: when a deployment's breaker opens and how often a failed call
may be tried again. Strict keys, like the rest of the catalog."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BreakerPolicy(_Strict):
    """Closed -> open when at least `min_requests` calls in the last `window_seconds` failed
    at `failure_rate` or more; open -> half-open after `cooldown_seconds`; half-open lets
    `half_open_probes` calls through and closes after that many succeed."""

    failure_rate: float = Field(default=0.5, gt=0, le=1)
    min_requests: int = Field(default=20, ge=1)
    window_seconds: float = Field(default=30.0, gt=0)
    cooldown_seconds: float = Field(default=15.0, gt=0)
    half_open_probes: int = Field(default=2, ge=1)
    sync_seconds: float = Field(default=1.0, gt=0)     # with Redis: how often replicas share counts


class RetryPolicy(_Strict):
    """One retry on the same deployment, within a budget: retries stay under `budget_ratio`
    of first attempts over `budget_window_seconds` (plus `min_retries` per window)."""

    budget_ratio: float = Field(default=0.2, ge=0, le=1)
    budget_window_seconds: float = Field(default=10.0, gt=0)
    min_retries: int = Field(default=0, ge=0)
    backoff_seconds: float = Field(default=0.1, ge=0)        # jittered: 0.5x to 1.5x
    max_backoff_seconds: float = Field(default=1.0, ge=0)
    max_retry_after_seconds: float = Field(default=2.0, ge=0)  # a longer Retry-After falls back at once


class RoutingPolicy(_Strict):
    breaker: BreakerPolicy = BreakerPolicy()
    retry: RetryPolicy = RetryPolicy()
