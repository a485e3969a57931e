from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.telemetry import tracing
from tests.conftest import make_settings
from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.catalogs import two_upstreams
from tests.support.gateway import RunningGateway, running_gateway, write_catalog


@pytest.fixture
def catalog_path(upstreams: tuple[FakeOpenAI, FakeOpenAI], tmp_path: Path) -> Path:
    primary, secondary = upstreams
    return write_catalog(tmp_path, two_upstreams(primary.url, secondary.url))


@pytest.fixture
def gateway(catalog_path: Path, sqlite_url: str) -> Iterator[RunningGateway]:
    with running_gateway(make_settings(sqlite_url, catalog_path)) as gw:
        yield gw


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span the gateway finishes, kept in memory (the SDK's own test exporter)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    try:
        yield exporter
    finally:
        tracing.use_provider(None)
        provider.shutdown()
