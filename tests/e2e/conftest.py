from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.catalogs import two_upstreams
from tests.support.gateway import RunningGateway, running_gateway, write_catalog


@pytest.fixture
def gateway(upstreams: tuple[FakeOpenAI, FakeOpenAI], sqlite_url: str, tmp_path: Path) -> Iterator[RunningGateway]:
    primary, secondary = upstreams
    config = write_catalog(tmp_path, two_upstreams(primary.url, secondary.url))
    with running_gateway(make_settings(sqlite_url, config)) as gw:
        yield gw
