"""The key directory's cache: one load per key per TTL, invalidation by key, tenant or all,
and no stale answer cached by a load that raced an invalidation. The database read is
replaced by a table in memory (the real read is covered in tests/integration/tenancy)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from gateway.errors import AuthenticationFailed
from gateway.tenancy.changes import Change, ChangeKind
from gateway.tenancy.directory import KeyDirectory
from gateway.tenancy.keys import generate_key, hash_key
from gateway.tenancy.models import ApiKey, Principal, Tenant


class TableDirectory(KeyDirectory):
    def __init__(self, ttl: float = 60.0) -> None:
        super().__init__(cast(Any, None), ttl=ttl)
        self.table: dict[str, Principal] = {}
        self.gate: asyncio.Event | None = None

    async def _load(self, digest: str) -> Principal | None:
        found = self.table.get(digest)      # read first, answer later: a slow query
        if self.gate is not None:
            await self.gate.wait()
        return found


def principal(tenant_id: str = "ten_1", key_id: str = "key_1", **key: Any) -> Principal:
    return Principal(tenant=Tenant(id=tenant_id, name="acme", tier="pro", models=("*",)),
                     key=ApiKey(id=key_id, tenant_id=tenant_id, prefix="p", label=None,
                                expires_at=key.get("expires_at"), revoked_at=key.get("revoked_at")))


async def test_a_key_is_loaded_once_per_ttl_even_under_concurrency() -> None:
    directory = TableDirectory()
    key = generate_key("acme")
    directory.table[hash_key(key)] = principal()
    results = await asyncio.gather(*(directory.authenticate(key) for _ in range(50)))
    assert {r.key.id for r in results} == {"key_1"}
    assert directory.loads == 1


async def test_changes_drop_exactly_what_they_name() -> None:
    directory = TableDirectory()
    keys = {name: generate_key("acme") for name in ("a", "b", "c")}
    directory.table[hash_key(keys["a"])] = principal("ten_1", "key_a")
    directory.table[hash_key(keys["b"])] = principal("ten_1", "key_b")
    directory.table[hash_key(keys["c"])] = principal("ten_2", "key_c")
    for key in keys.values():
        await directory.authenticate(key)
    assert directory.loads == 3
    directory.apply(Change(ChangeKind.KEY, "key_a"))
    for key in keys.values():
        await directory.authenticate(key)
    assert directory.loads == 4
    directory.apply(Change(ChangeKind.TENANT, "ten_1"))
    for key in keys.values():
        await directory.authenticate(key)
    assert directory.loads == 6
    directory.apply(Change(ChangeKind.ALL))
    for key in keys.values():
        await directory.authenticate(key)
    assert directory.loads == 9


async def test_a_revoke_applies_on_the_next_request() -> None:
    directory = TableDirectory()
    key = generate_key("acme")
    directory.table[hash_key(key)] = principal()
    await directory.authenticate(key)
    directory.table[hash_key(key)] = principal(revoked_at=datetime.now(UTC))
    directory.apply(Change(ChangeKind.KEY, "key_1"))
    with pytest.raises(AuthenticationFailed):
        await directory.authenticate(key)


async def test_a_load_that_raced_an_invalidation_is_not_cached() -> None:
    directory = TableDirectory()
    key = generate_key("acme")
    directory.table[hash_key(key)] = principal()
    directory.gate = asyncio.Event()
    in_flight = asyncio.create_task(directory.authenticate(key))
    await asyncio.sleep(0.01)
    directory.table[hash_key(key)] = principal(revoked_at=datetime.now(UTC))   # revoked while the read was out
    directory.apply(Change(ChangeKind.KEY, "key_1"))
    directory.gate.set()
    assert (await in_flight).key.id == "key_1"        # it began before the revoke
    with pytest.raises(AuthenticationFailed):           # and did not put the old answer in the cache
        await directory.authenticate(key)


async def test_an_entry_expires_after_the_ttl() -> None:
    directory = TableDirectory(ttl=0.05)
    key = generate_key("acme")
    directory.table[hash_key(key)] = principal()
    await directory.authenticate(key)
    await directory.authenticate(key)
    assert directory.loads == 1
    await asyncio.sleep(0.06)
    await directory.authenticate(key)
    assert directory.loads == 2


async def test_a_cached_key_stops_at_its_own_expiry_or_grace_end_without_a_reload() -> None:
    directory = TableDirectory()
    key = generate_key("acme")
    directory.table[hash_key(key)] = principal(revoked_at=datetime.now(UTC) + timedelta(milliseconds=50))
    await directory.authenticate(key)
    await asyncio.sleep(0.06)
    with pytest.raises(AuthenticationFailed):
        await directory.authenticate(key)
    assert directory.loads == 1


@pytest.mark.parametrize("presented", [None, "", "junk", "sk-acme-short"])
async def test_malformed_keys_cost_no_lookup(presented: str | None) -> None:
    directory = TableDirectory()
    with pytest.raises(AuthenticationFailed):
        await directory.authenticate(presented)
    assert directory.loads == 0
