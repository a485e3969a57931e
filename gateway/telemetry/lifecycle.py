"""Telemetry for a gateway process's lifetime: tracing set up from the environment, the
providers' breaker series declared, and structured lifecycle lines at start and stop."""

from __future__ import annotations

import os

from gateway.catalog import Catalog
from gateway.settings import Settings
from gateway.telemetry import metrics, tracing
from gateway.telemetry.logging import lifecycle_log


def start_telemetry(settings: Settings, catalog: Catalog) -> None:
    traced = tracing.setup(settings.trace_content)
    metrics.declare_providers(catalog.providers)
    lifecycle_log.info("gateway starting", extra={
        "providers": sorted(catalog.providers),
        "models": len(catalog.models),
        "embedded": settings.embedded,
        "redis": settings.redis_url is not None,
        "tracing": traced,
        "trace_content": settings.trace_content,
        "metrics_multiprocess": bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR")),
    })


def stop_telemetry() -> None:
    tracing.shutdown()   # flushes spans still batched
    lifecycle_log.info("gateway stopped")
