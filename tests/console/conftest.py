from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import make_settings
from tests.support.gateway import RunningGateway, running_gateway


@pytest.fixture(scope="module")
def console_gw(postgres_url: str) -> Iterator[RunningGateway]:
    """A gateway on PostgreSQL with the admin API and the console on their own port."""
    with running_gateway(make_settings(postgres_url), separate_admin=True) as gw:
        yield gw
