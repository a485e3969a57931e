"""The key directory over a real database: what it loads, that a change made elsewhere
(the CLI, another replica) applies within the TTL with no notification, and that
last_used_at is written in batches, never per request."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.catalog import load_catalog
from gateway.db import create_engine
from gateway.errors import AuthenticationFailed
from gateway.tenancy.directory import KeyDirectory
from gateway.tenancy.last_used import LastUsedRecorder
from gateway.tenancy.service import TenancyService
from gateway.tenancy.tables import api_keys
from tests.conftest import unique

CATALOG = load_catalog(None)   # the built-in one: mock-echo, mock-echo-large, mock-embed, auto, cheapest, fastest


@pytest.fixture
def service(engine: AsyncEngine) -> TenancyService:
    return TenancyService(engine, tiers=list(CATALOG.tiers), model_names=[*CATALOG.models, *CATALOG.aliases])


class StatementCounter:
    def __init__(self, engine: AsyncEngine) -> None:
        self.statements: list[str] = []
        sa.event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)


async def test_a_tenant_is_loaded_with_its_resolved_allowlist_and_limits(engine: AsyncEngine,
                                                                        service: TenancyService) -> None:
    name = unique("dir")
    await service.create_tenant(name, tier="free", models=["mock-echo", "auto", "cheapest"], limits={"rpm": 3},
                                pii_mode="block", validation_mode="retry")
    issued = await service.create_key(name)
    principal = await KeyDirectory(engine, catalog=CATALOG).authenticate(issued.key)
    assert principal.tenant.name == name and principal.key.id == issued.id
    assert principal.tenant.limit_overrides == {"rpm": 3} and principal.tenant.pii_mode == "block"
    assert principal.tenant.validation_mode == "retry"
    assert principal.tenant.allowed_names == frozenset({"mock-echo", "auto", "cheapest", "fastest"})  # aliases need no entry


async def test_a_change_made_elsewhere_applies_within_the_ttl(engine: AsyncEngine, service: TenancyService) -> None:
    name = unique("dir")
    await service.create_tenant(name, tier="free", models=["*"])
    issued = await service.create_key(name)
    directory = KeyDirectory(engine, ttl=0.3, catalog=CATALOG)   # nobody tells this one about changes
    await directory.authenticate(issued.key)
    await service.update_tenant(name, tier="pro")
    started = time.monotonic()
    while (await directory.authenticate(issued.key)).tenant.tier != "pro":
        assert time.monotonic() - started < 2
        await asyncio.sleep(0.01)
    await service.revoke_key(issued.id)
    while True:
        try:
            await directory.authenticate(issued.key)
        except AuthenticationFailed:
            break
        assert time.monotonic() - started < 2
        await asyncio.sleep(0.01)
    # at most about one read per half TTL (a key in use is re-read in the background at half its TTL)
    assert directory.loads <= 2 + int(2 * (time.monotonic() - started) / 0.3) + 1


async def test_a_key_in_use_is_re_read_in_the_background_not_on_a_request(engine: AsyncEngine,
                                                                         service: TenancyService) -> None:
    name = unique("dir")
    await service.create_tenant(name, tier="free", models=["*"])
    issued = await service.create_key(name)
    directory = KeyDirectory(engine, ttl=1.0, catalog=CATALOG)   # nobody tells this one about changes
    await directory.authenticate(issued.key)                      # read on the request: nothing cached
    await asyncio.sleep(0.6)                                      # past half the TTL
    await service.revoke_key(issued.id)
    reads = directory.loads
    assert (await directory.authenticate(issued.key)).key.id == issued.id   # the cached answer, at once
    assert directory.loads == reads                               # no read on that request
    deadline = time.monotonic() + 2
    while directory.loads == reads:                               # the background read
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    with pytest.raises(AuthenticationFailed):                     # what it read replaced the entry
        await directory.authenticate(issued.key)


async def test_rotation_keeps_the_old_key_for_the_grace_period_only(engine: AsyncEngine,
                                                                   service: TenancyService) -> None:
    name = unique("dir")
    await service.create_tenant(name, tier="pro", models=["*"])
    old = await service.create_key(name)
    directory = KeyDirectory(engine, catalog=CATALOG)
    service = TenancyService(engine, tiers=list(CATALOG.tiers), publish=_applying(directory))
    new, _ = await service.rotate_key(old.id, grace=timedelta(milliseconds=300))
    assert (await directory.authenticate(old.key)).key.id == old.id
    assert (await directory.authenticate(new.key)).key.id == new.id
    await asyncio.sleep(0.35)
    with pytest.raises(AuthenticationFailed):
        await directory.authenticate(old.key)
    assert (await directory.authenticate(new.key)).key.id == new.id


async def test_an_expired_key_is_refused(engine: AsyncEngine, service: TenancyService) -> None:
    name = unique("dir")
    await service.create_tenant(name, tier="pro", models=["*"])
    issued = await service.create_key(name, expires_in=timedelta(milliseconds=200))
    directory = KeyDirectory(engine, catalog=CATALOG)
    await directory.authenticate(issued.key)
    await asyncio.sleep(0.25)
    with pytest.raises(AuthenticationFailed):
        await directory.authenticate(issued.key)


async def test_last_used_is_written_in_one_batch_not_per_request(engine: AsyncEngine,
                                                                 service: TenancyService) -> None:
    name = unique("dir")
    await service.create_tenant(name, tier="pro", models=["*"])
    keys = [await service.create_key(name) for _ in range(3)]
    recorder = LastUsedRecorder(engine, interval=3600)
    directory = KeyDirectory(engine, last_used=recorder, catalog=CATALOG)
    for issued in keys:
        await directory.authenticate(issued.key)            # loads each key once
    counter = StatementCounter(engine)
    for _ in range(200):
        for issued in keys:
            await directory.authenticate(issued.key)
    assert counter.statements == []                          # 600 requests, no database statement
    assert recorder.pending == 3
    assert await recorder.flush() == 3
    assert len([s for s in counter.statements if s.lstrip().upper().startswith("UPDATE")]) == 1
    async with engine.connect() as conn:
        used = dict((await conn.execute(sa.select(api_keys.c.id, api_keys.c.last_used_at)
                                        .where(api_keys.c.id.in_([k.id for k in keys])))).all())
    assert all(used[k.id] is not None for k in keys)
    assert await recorder.flush() == 0


async def test_last_used_only_moves_forward(engine: AsyncEngine, service: TenancyService) -> None:
    name = unique("dir")
    await service.create_tenant(name, tier="pro", models=["*"])
    issued = await service.create_key(name)
    recorder = LastUsedRecorder(engine, interval=3600)
    late = datetime.now(UTC)
    recorder.touch(issued.id, late)
    await recorder.flush()
    recorder.touch(issued.id, late - timedelta(hours=1))   # another replica's older note
    await recorder.flush()
    listed = await service.list_keys(name)
    assert datetime.fromisoformat(listed[0]["last_used_at"]) == late


async def test_last_used_is_flushed_on_its_own_and_at_close(engine: AsyncEngine, service: TenancyService) -> None:
    name = unique("dir")
    await service.create_tenant(name, tier="pro", models=["*"])
    first, second = await service.create_key(name), await service.create_key(name)
    periodic = LastUsedRecorder(engine, interval=0.05)
    await periodic.start()
    periodic.touch(first.id)
    started = time.monotonic()
    while (await service.get_key(first.id))["last_used_at"] is None:
        assert time.monotonic() - started < 3
        await asyncio.sleep(0.02)
    await periodic.close()
    at_close = LastUsedRecorder(engine, interval=3600)
    await at_close.start()
    at_close.touch(second.id)
    await at_close.close()
    assert (await service.get_key(second.id))["last_used_at"] is not None


def _applying(directory: KeyDirectory) -> Any:
    async def publish(change: Any) -> None:
        directory.apply(change)
    return publish


async def test_a_database_outage_keeps_known_keys_working_and_is_503_for_unknown_ones(
        engine: AsyncEngine, service: TenancyService) -> None:
    from gateway.errors import ServiceUnavailable
    from tests.support.threads import free_port

    name = unique()
    await service.create_tenant(name, tier="pro", models=["*"])
    issued = await service.create_key(name)
    directory = KeyDirectory(engine, ttl=0.05, catalog=CATALOG)
    assert (await directory.authenticate(issued.key)).tenant.name == name
    # The database goes away: nothing listens where the directory now looks.
    unreachable = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none")
    directory._engine = unreachable
    try:
        await asyncio.sleep(0.1)   # past the ttl: the next request re-reads, and fails to
        assert (await directory.authenticate(issued.key)).tenant.name == name
        with pytest.raises(ServiceUnavailable):
            await directory.authenticate(f"sk-{name}-" + "x" * 43)
    finally:
        await unreachable.dispose()
