"""Breaker state shared by the replicas through Redis, off the request path.

Keys (the version in the prefix lets a new layout coexist with an old one during a rollout):

    gw:breaker:v1:state:<breaker>                 hash gen, state, until, claims, claims_since, probe_ok
    gw:breaker:v1:win:<breaker>:<gen>:<slice>     hash <replica>:ok, <replica>:failed (expires)
    gw:breaker:v1:transitions                     pub/sub: "<breaker> <gen> <state> <until>"

Each replica decides every request from its own copy of the state and counts. A background
task, every `sync_seconds`, adds this replica's new counts to the shared window, reads the
state and the other replicas' counts back, and opens a breaker the combined window condemns.
Transitions are compare-and-set on the generation (Lua), so replicas agree on one history
and the one that made a transition is the one that counts it; they are published, so the
others adopt them at once rather than at the next sync. The only request-path round trip
is claiming a half-open probe, so that all replicas together send `half_open_probes`.

If Redis is unreachable, each replica goes on with its local breakers alone.

Redis Cluster: each script touches one key (a breaker's state), and a sync's pipeline holds
no transaction, so the cluster client splits it per node; transitions are published with
classic PUBLISH, which reaches subscribers on every node.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from gateway.redis_client import one_node
from gateway.routing.breaker import Breaker, BreakerBoard, State, Transition

if TYPE_CHECKING:
    from gateway.redis_client import Client

log = logging.getLogger("gateway.routing")

PREFIX = "gw:breaker:v1"
_STATE_TTL_MS = 24 * 3600 * 1000
_CLAIM_TIMEOUT = 0.5
_SLICES = 10

# KEYS[1] state; ARGV expected gen, target state, until, ttl ms, channel, breaker
_TRANSITION = """
local gen = tonumber(redis.call('HGET', KEYS[1], 'gen') or '0')
if gen ~= tonumber(ARGV[1]) then
  return {0, gen, tonumber(redis.call('HGET', KEYS[1], 'state') or '0'), redis.call('HGET', KEYS[1], 'until') or '0'}
end
gen = gen + 1
redis.call('HSET', KEYS[1], 'gen', gen, 'state', ARGV[2], 'until', ARGV[3], 'claims', 0, 'claims_since', 0,
           'probe_ok', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6] .. ' ' .. gen .. ' ' .. ARGV[2] .. ' ' .. ARGV[3])
return {1, gen, tonumber(ARGV[2]), ARGV[3]}
"""

# Claims a half-open probe; first moves open -> half-open when the cool-down is over.
# KEYS[1] state; ARGV half-open gen, probes, now, probe period, ttl ms, channel, breaker
# Returns {granted (1, 0, or -1 when the caller's state is stale), moved to half-open (0/1)}.
_CLAIM = """
local gen = tonumber(redis.call('HGET', KEYS[1], 'gen') or '0')
local state = tonumber(redis.call('HGET', KEYS[1], 'state') or '0')
local want = tonumber(ARGV[1])
local now = tonumber(ARGV[3])
local moved = 0
if state == 2 and gen + 1 == want and now >= tonumber(redis.call('HGET', KEYS[1], 'until') or '0') then
  gen = want
  state = 1
  moved = 1
  redis.call('HSET', KEYS[1], 'gen', gen, 'state', 1, 'until', 0, 'claims', 0, 'claims_since', ARGV[3],
             'probe_ok', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  redis.call('PUBLISH', ARGV[6], ARGV[7] .. ' ' .. gen .. ' 1 0')
end
if gen ~= want or state ~= 1 then
  return {-1, moved}
end
local claims = tonumber(redis.call('HGET', KEYS[1], 'claims') or '0')
-- a probe whose replica died never reports: the slots free up after one period
if now - tonumber(redis.call('HGET', KEYS[1], 'claims_since') or '0') >= tonumber(ARGV[4]) then
  claims = 0
  redis.call('HSET', KEYS[1], 'claims_since', ARGV[3])
end
if claims >= tonumber(ARGV[2]) then
  return {0, moved}
end
redis.call('HSET', KEYS[1], 'claims', claims + 1)
return {1, moved}
"""

# A successful probe; the last one needed closes the breaker.
# KEYS[1] state; ARGV half-open gen, probes, ttl ms, channel, breaker. Returns the new gen or 0.
_PROBE_OK = """
local gen = tonumber(redis.call('HGET', KEYS[1], 'gen') or '0')
if gen ~= tonumber(ARGV[1]) or tonumber(redis.call('HGET', KEYS[1], 'state') or '0') ~= 1 then
  return 0
end
if redis.call('HINCRBY', KEYS[1], 'probe_ok', 1) < tonumber(ARGV[2]) then
  return 0
end
gen = gen + 1
redis.call('HSET', KEYS[1], 'gen', gen, 'state', 0, 'until', 0, 'claims', 0, 'claims_since', 0, 'probe_ok', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5] .. ' ' .. gen .. ' 0 0')
return gen
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SharedBreakers:
    def __init__(self, redis: Client, board: BreakerBoard, *, prefix: str = PREFIX) -> None:
        self.redis = redis
        self.board = board
        self.policy = board.policy
        self.prefix = prefix
        self.replica = uuid.uuid4().hex[:12]
        self.channel = f"{prefix}:transitions"
        self._transition = redis.register_script(_TRANSITION)
        self._claim = redis.register_script(_CLAIM)
        self._probe_ok = redis.register_script(_PROBE_OK)
        self._queue: deque[tuple[Breaker, Transition | int]] = deque()
        self._pending: Counter[str] = Counter()     # breakers with a decision not yet in Redis
        self._deltas: dict[tuple[str, int, int], list[int]] = {}
        self._wake = asyncio.Event()
        self._sync_soon = False
        self._closing = False
        self._healthy = True
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def healthy(self) -> bool:
        return self._healthy

    def state_key(self, breaker: Breaker) -> str:
        return f"{self.prefix}:state:{breaker.key}"

    def window_key(self, key: str, gen: int, slice_: int) -> str:
        return f"{self.prefix}:win:{key}:{gen}:{slice_}"

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(), name="breaker-sync"),
                       asyncio.create_task(self._listen(), name="breaker-listen")]

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    # -- called by the board, on the request path (no I/O but the probe claim) -------

    def note(self, breaker: Breaker, gen: int, ok: bool, now: float) -> None:
        slice_ = int(now // (self.policy.window_seconds / _SLICES))
        counts = self._deltas.setdefault((breaker.key, gen, slice_), [0, 0])
        counts[0 if ok else 1] += 1

    def propose(self, breaker: Breaker, transition: Transition) -> None:
        if transition.target is State.HALF_OPEN:
            return   # made in Redis by the probe claim that follows at once
        self._enqueue(breaker, transition)

    def probe_succeeded(self, breaker: Breaker, gen: int) -> None:
        self._enqueue(breaker, gen)

    async def claim_probe(self, breaker: Breaker, gen: int, now: float) -> bool:
        try:
            async with asyncio.timeout(_CLAIM_TIMEOUT):
                granted, moved = await self._claim(
                    keys=[self.state_key(breaker)],
                    args=[gen, self.policy.half_open_probes, repr(now), self.policy.cooldown_seconds,
                          _STATE_TTL_MS, self.channel, breaker.key])
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            return True      # Redis is away: this replica probes on its own authority
        if int(moved):
            self.board.count(breaker, State.HALF_OPEN)
        if int(granted) < 0:
            self._sync_soon = True    # our view is stale: refresh now rather than at the next tick
            self._wake.set()
        return int(granted) == 1

    def _enqueue(self, breaker: Breaker, item: Transition | int) -> None:
        self._queue.append((breaker, item))
        self._pending[breaker.key] += 1
        self._wake.set()

    # -- the background work ------------------------------------------------------------

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        next_sync = loop.time()
        while not self._closing:
            try:
                async with asyncio.timeout(max(0.0, next_sync - loop.time())):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self._decide_queued()
                if self._sync_soon or loop.time() >= next_sync:
                    self._sync_soon = False
                    await self.sync_once()
                    next_sync = loop.time() + self.policy.sync_seconds
                self._recovered()
            except (RedisError, OSError) as exc:
                self._failed(exc)
                self._queue.clear()
                self._pending.clear()
                next_sync = loop.time() + self.policy.sync_seconds

    async def _decide_queued(self) -> None:
        while self._queue:
            breaker, item = self._queue[0]
            try:
                if isinstance(item, Transition):
                    await self._decide(breaker, item)
                else:
                    await self._close_after_probe(breaker, item)
            finally:
                self._queue.popleft()
                self._pending[breaker.key] -= 1
                if self._pending[breaker.key] <= 0:
                    del self._pending[breaker.key]

    async def _decide(self, breaker: Breaker, transition: Transition) -> None:
        won, gen, state, until = await self._transition(
            keys=[self.state_key(breaker)],
            args=[transition.gen - 1, int(transition.target), repr(transition.until), _STATE_TTL_MS,
                  self.channel, breaker.key])
        if int(won):
            self.board.count(breaker, transition.target)
        elif self._pending[breaker.key] <= 1:   # no later decision of ours is on its way
            self.board.adopt(breaker.key, State(int(state)), int(gen), float(_text(until)))

    async def _close_after_probe(self, breaker: Breaker, gen: int) -> None:
        closed_gen = int(await self._probe_ok(
            keys=[self.state_key(breaker)],
            args=[gen, self.policy.half_open_probes, _STATE_TTL_MS, self.channel, breaker.key]))
        if closed_gen:
            self.board.adopt(breaker.key, State.CLOSED, closed_gen, 0.0)
            self.board.count(breaker, State.CLOSED)

    async def sync_once(self) -> None:
        """Shares this replica's counts, then reads every breaker's state and window."""
        now = self.board.clock()
        width = self.policy.window_seconds / _SLICES
        expire_ms = int(self.policy.window_seconds * 2000)
        pipe = self.redis.pipeline(transaction=False)
        deltas, self._deltas = self._deltas, {}
        for (key, gen, slice_), (ok, failed) in deltas.items():
            window = self.window_key(key, gen, slice_)
            pipe.hincrby(window, f"{self.replica}:ok", ok)
            pipe.hincrby(window, f"{self.replica}:failed", failed)
            pipe.pexpire(window, expire_ms)
        breakers = [(breaker, breaker.gen) for breaker in self.board.by_key.values()]
        current = int(now // width)
        for breaker, gen in breakers:
            pipe.hmget(self.state_key(breaker), "gen", "state", "until")
            for slice_ in range(current - _SLICES + 1, current + 1):
                pipe.hgetall(self.window_key(breaker.key, gen, slice_))
        results = await pipe.execute()
        read = results[3 * len(deltas):]
        per_breaker = 1 + _SLICES
        for i, (breaker, counts_gen) in enumerate(breakers):
            state_row, *windows = read[i * per_breaker:(i + 1) * per_breaker]
            self._apply(breaker, counts_gen, state_row, windows, self.board.clock())

    def _apply(self, breaker: Breaker, counts_gen: int, state_row: list[Any], windows: list[dict[Any, Any]],
               now: float) -> None:
        if breaker.key in self._pending:
            return     # our own decision is on its way; Redis does not have it yet
        gen_raw, state_raw, until_raw = state_row
        gen = int(_text(gen_raw)) if gen_raw is not None else 0
        state = State(int(_text(state_raw))) if state_raw is not None else State.CLOSED
        until = float(_text(until_raw)) if until_raw is not None else 0.0
        if state is State.OPEN and breaker.state is State.HALF_OPEN and breaker.gen == gen + 1:
            return     # this replica's probe claim moves Redis to half-open
        self.board.adopt(breaker.key, state, gen, until)
        if breaker.gen != counts_gen:
            return     # the counts read were for another generation
        ok = failed = 0
        mine = f"{self.replica}:"
        for window in windows:
            for field, value in window.items():
                name = _text(field)
                if name.startswith(mine):
                    continue
                if name.endswith(":ok"):
                    ok += int(_text(value))
                elif name.endswith(":failed"):
                    failed += int(_text(value))
        breaker.remote_ok, breaker.remote_failed = ok, failed
        self.board.reevaluate(breaker, now)

    async def _listen(self) -> None:
        # On a cluster, one node is enough: a transition PUBLISHed on any node reaches them all.
        while not self._closing:
            try:
                async with one_node(self.redis) as node:
                    pubsub = node.pubsub()
                    try:
                        await pubsub.subscribe(self.channel)
                        while not self._closing:
                            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                            if message is not None:
                                self._on_message(_text(message["data"]))
                    finally:
                        try:
                            await pubsub.aclose()
                        except (RedisError, OSError):
                            pass
            except (RedisError, OSError) as exc:
                self._failed(exc)
                await asyncio.sleep(self.policy.sync_seconds)

    def _on_message(self, data: str) -> None:
        try:
            key, gen_text, state_text, until_text = data.split(" ")
            gen, state, until = int(gen_text), State(int(state_text)), float(until_text)
        except ValueError:
            return
        breaker = self.board.by_key.get(key)
        if breaker is not None and key not in self._pending and gen > breaker.gen:
            self.board.adopt(key, state, gen, until)

    def _failed(self, exc: BaseException) -> None:
        if self._healthy:
            self._healthy = False
            for breaker in self.board.by_key.values():
                breaker.closes_locally = True     # else a half-open breaker could never close
            log.warning("breaker state not shared: Redis unreachable; breakers run per replica",
                        extra={"error": type(exc).__name__})

    def _recovered(self) -> None:
        if not self._healthy:
            self._healthy = True
            for breaker in self.board.by_key.values():
                breaker.closes_locally = False
            log.info("breaker state shared through Redis again")


def share(board: BreakerBoard, redis: Client, *, prefix: str = PREFIX) -> BreakerBoard:
    """`board`, its decisions shared with the other replicas through `redis`."""
    board.share(SharedBreakers(redis, board, prefix=prefix))
    return board
