"""The registry and the request path's resolver on SQLite and PostgreSQL: a label is read
once per TTL however many requests share it, a published move drops it at once, an
unpublished one (another process without Redis) is seen within the TTL; version contents are
read once; shared and per-tenant prompts stay apart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db import create_engine
from gateway.errors import InvalidRequest
from gateway.prompts.content import PromptError
from gateway.prompts.resolver import PromptResolver
from gateway.prompts.service import PromptService
from gateway.tenancy.changes import Change
from gateway.tenancy.service import TenancyService
from gateway.tenancy.validation import NotFoundError
from tests.conftest import unique


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def tenant_id(engine: AsyncEngine) -> tuple[str, str]:
    name = unique("tenant")
    created = await TenancyService(engine, ["pro"]).create_tenant(name, tier="pro", models=["*"])
    return name, str(created["id"])


async def test_labels_are_cached_for_the_ttl_and_dropped_by_a_published_move(engine: AsyncEngine) -> None:
    name, owner = await tenant_id(engine)
    resolver = PromptResolver(engine, ttl=30)

    async def publish(change: Change) -> None:
        resolver.apply(change)

    service = PromptService(engine, publish=publish)
    await service.create("triage", {"input": "v1 {{x}}"}, tenant=name)
    await service.add_version("triage", {"input": "v2 {{x}}"}, tenant=name)
    await service.set_label("triage", "production", 1, tenant=name)

    answers = await asyncio.gather(*(resolver.resolve(owner, "triage", "production") for _ in range(20)))
    assert {a.version for a in answers} == {1} and resolver.loads == 1      # one read shared by all
    assert answers[0].content["messages"][0]["content"] == "v1 {{x}}"
    assert (await resolver.resolve(owner, "triage", None)).version == 2   # latest
    assert (await resolver.resolve(owner, "triage", "1")).version == 1    # a number: no pointer read
    assert resolver.loads == 2

    await service.set_label("triage", "production", 2, tenant=name)     # published: dropped at once
    assert (await resolver.resolve(owner, "triage", "production")).version == 2
    assert resolver.loads == 3

    elsewhere = PromptService(engine)       # another process, no Redis: nothing published
    await elsewhere.set_label("triage", "production", 1, tenant=name)
    assert (await resolver.resolve(owner, "triage", "production")).version == 2   # within the 30 s ttl
    short = PromptResolver(engine, ttl=0.05)
    assert (await short.resolve(owner, "triage", "production")).version == 1
    await service.set_label("triage", "production", 2, tenant=name)
    await asyncio.sleep(0.06)
    assert (await short.resolve(owner, "triage", "production")).version == 2     # re-read after the ttl


async def test_shared_and_private_prompts_and_unknown_names(engine: AsyncEngine) -> None:
    name, owner = await tenant_id(engine)
    other, other_id = await tenant_id(engine)
    service = PromptService(engine)
    await service.create("greeter", {"input": "shared hello"}, tenant=None)
    await service.create("greeter", {"input": "own hello"}, tenant=name)     # ids are unique per owner
    resolver = PromptResolver(engine)
    own = await resolver.resolve(owner, "greeter", None)
    shared = await resolver.resolve(other_id, "shared/greeter", None)
    assert own.content["messages"][0]["content"] == "own hello" and own.recorded_id == "greeter"
    assert shared.content["messages"][0]["content"] == "shared hello" and shared.recorded_id == "shared/greeter"
    for tenant, prompt, selector, code in [(other_id, "greeter", None, "prompt_not_found"),
                                           (owner, "greeter", "staging", "prompt_version_not_found"),
                                           (owner, "greeter", "3", "prompt_version_not_found")]:
        with pytest.raises(InvalidRequest) as caught:
            await resolver.resolve(tenant, prompt, selector)
        assert caught.value.code == code
    await service.add_version("greeter", {"input": "own hello 2"}, tenant=name)
    assert (await resolver.resolve(owner, "greeter", "2")).version == 2      # a missing version is not cached

    with pytest.raises(PromptError):
        await service.create("greeter", {"input": "again"}, tenant=name)
    with pytest.raises(NotFoundError):
        await service.show("greeter", tenant=other)
    with pytest.raises(NotFoundError):
        await service.get_version("greeter", "9", tenant=name)
    with pytest.raises(PromptError):
        await service.set_label("greeter", "production", 9, tenant=name)
