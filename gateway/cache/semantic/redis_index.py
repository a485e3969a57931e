"""The semantic index in plain Redis (7.x, no vector search module): shared by every
replica, so a paraphrase stored through one replica hits through another.

Keys, all of one scope under one hash tag (one cluster slot, so each script is atomic):
    gw:sem:v1:{scope}:e:<id>                 an entry: int8 vector, answer key, key text (EX ttl)
    gw:sem:v1:{scope}:lru                    ZSET id -> last use (ms): bounds the scope, LRU first out
    gw:sem:v1:{scope}:p:<partition>:r        ZSET the partition's newest RECENT ids
    gw:sem:v1:{scope}:p:<partition>:<b>:<s>  ZSET the newest BUCKET ids of LSH band b, bucket s
A lookup is one script: read the recent list and one bucket per band (at most
RECENT + BANDS * BUCKET ids), return their records; the similarities are computed here.
Its cost does not grow with the scope's entries (bench/semantic_cache.py measures it at
1k, 10k and 100k). A Redis outage makes the semantic cache miss, never fail a request."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.exceptions import NoScriptError, RedisError

from gateway.cache.keys import glob_escape, model_tag
from gateway.cache.semantic.index import BUCKET, RECENT, Candidate, SemanticIndex, entry_id, rank
from gateway.cache.semantic.vectors import Vector, pack, signatures
from gateway.redis_client import Client, HotPathClient

PREFIX = "gw:sem:v1:"
T = TypeVar("T")
log = logging.getLogger("gateway.cache")

_LOOKUP = """
local seen, ids = {}, {}
local cap = tonumber(ARGV[2])
for i = 1, #KEYS do
  local limit = cap
  if i == 1 then limit = tonumber(ARGV[3]) end
  for _, id in ipairs(redis.call('ZREVRANGE', KEYS[i], 0, limit - 1)) do
    if not seen[id] then seen[id] = true; ids[#ids + 1] = id end
  end
end
if #ids == 0 then return {} end
local keys = {}
for i, id in ipairs(ids) do keys[i] = ARGV[1] .. id end
local records = redis.call('MGET', unpack(keys))
local out = {}
for i, id in ipairs(ids) do
  if records[i] then out[#out + 1] = id; out[#out + 1] = records[i] end
end
return out
"""

_ADD = """
local ttl, now = tonumber(ARGV[2]), tonumber(ARGV[3])
local id, bucket_cap, recent_cap, max_entries = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
for i = 3, #KEYS do
  local cap = bucket_cap
  if i == 3 then cap = recent_cap end
  redis.call('ZADD', KEYS[i], now, id)
  redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(cap + 1))
  redis.call('EXPIRE', KEYS[i], ttl)
end
local newest = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')[2]
local used = now
if newest and tonumber(newest) >= used then used = tonumber(newest) + 0.001 end   -- strict LRU order
redis.call('ZADD', KEYS[2], used, id)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl * 1000)
local extra = redis.call('ZCARD', KEYS[2]) - max_entries
if extra > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[2], extra)
  for i = 1, #popped, 2 do redis.call('DEL', ARGV[8] .. popped[i]) end
end
redis.call('EXPIRE', KEYS[2], ttl)
return 1
"""

_TOUCH = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local used = tonumber(ARGV[2])
  local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2]
  if newest and tonumber(newest) >= used then used = tonumber(newest) + 0.001 end
  redis.call('ZADD', KEYS[1], used, ARGV[1])
end
return 1
"""

_CLEAR_MODEL = """
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local n = 0
for _, id in ipairs(ids) do
  if string.sub(id, 1, string.len(ARGV[1])) == ARGV[1] then
    redis.call('ZREM', KEYS[1], id); redis.call('DEL', ARGV[2] .. id); n = n + 1
  end
end
return n
"""


class _Script:
    def __init__(self, source: str) -> None:
        import hashlib

        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


def scope_prefix(scope: str) -> str:
    return f"{PREFIX}{{{scope}}}:"


class RedisSemanticIndex(SemanticIndex):
    """`redis` carries the request path's scripts; `admin` (a redis-py client) the clearing
    scan, which the pipelined hot-path client does not offer."""

    def __init__(self, redis: HotPathClient, admin: Client | None = None, *, max_entries: int = 10_000,
                 owns_client: bool = False, recheck_seconds: float = 2.0) -> None:
        self._redis = redis
        self._admin = admin
        self._max_entries = max_entries
        self._owns_client = owns_client
        self._recheck = recheck_seconds
        self._next_try = 0.0
        self._scripts = {name: _Script(src) for name, src in
                         (("lookup", _LOOKUP), ("add", _ADD), ("touch", _TOUCH), ("clear_model", _CLEAR_MODEL))}

    async def nearest(self, scope: str, partition: str, vector: Vector, limit: int) -> list[Candidate]:
        base = f"{scope_prefix(scope)}p:{_short(partition)}:"
        keys = [base + "r", *(f"{base}{band}:{sig}" for band, sig in enumerate(signatures(vector)))]
        reply = await self._call(lambda: self._run("lookup", keys, [scope_prefix(scope) + "e:", BUCKET, RECENT]))
        if not reply:
            return []
        records = [(_text(reply[i]), bytes(reply[i + 1])) for i in range(0, len(reply) - 1, 2)]
        return rank(vector, records, limit)

    async def add(self, scope: str, partition: str, model: str, vector: Vector, text: str,
                  answer_key: str, ttl_seconds: int) -> None:
        prefix = scope_prefix(scope)
        entry = entry_id(model, secrets.token_hex(8))
        base = f"{prefix}p:{_short(partition)}:"
        keys = [prefix + "e:" + entry, prefix + "lru", base + "r",
                *(f"{base}{band}:{sig}" for band, sig in enumerate(signatures(vector)))]
        args: list[Any] = [pack(vector, answer_key, text), ttl_seconds, _now_ms(), entry, BUCKET, RECENT,
                           self._max_entries, prefix + "e:"]
        await self._call(lambda: self._run("add", keys, args))

    async def touch(self, scope: str, entry: str) -> None:
        await self._call(lambda: self._run("touch", [scope_prefix(scope) + "lru"], [entry, _now_ms()]))

    async def clear(self, scope: str, model: str | None = None) -> int:
        prefix = scope_prefix(scope)
        if model is not None:
            found = await self._run("clear_model", [prefix + "lru"], [model_tag(model) + ".", prefix + "e:"])
            return int(found or 0)
        admin = self._admin
        if admin is None:
            raise RuntimeError("clearing a scope needs a redis-py client")
        removed = 0
        entries = 0
        batch: list[bytes | str] = []
        async for key in admin.scan_iter(match=glob_escape(prefix) + "*", count=1000):
            batch.append(key)
            entries += (key.decode() if isinstance(key, bytes) else key).startswith(prefix + "e:")
            if len(batch) >= 500:
                removed += await _unlink(admin, batch)
                batch = []
        if batch:
            removed += await _unlink(admin, batch)
        return entries

    async def close(self) -> None:
        if self._owns_client:
            await self._redis.aclose()

    async def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        script = self._scripts[name]
        try:
            return await self._redis.evalsha(script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self._redis.eval(script.source, len(keys), *keys, *args)

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T | None:
        now = time.monotonic()
        if now < self._next_try:
            return None
        try:
            return await operation()
        except (RedisError, OSError) as exc:
            if self._next_try <= now:
                log.warning("semantic cache index unreachable (%s); semantic lookups miss", type(exc).__name__)
            self._next_try = now + self._recheck
            return None


async def _unlink(admin: Client, keys: list[bytes | str]) -> int:
    # One key per call: a cluster client refuses multi-key commands across slots, and all
    # of a scope share one slot only by hash tag, which the client does not assume.
    count = 0
    for key in keys:
        count += int(await admin.unlink(key))
    return count


def _short(partition: str) -> str:
    return partition.rsplit(":", 1)[-1][:32]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _now_ms() -> int:
    return int(time.time() * 1000)
