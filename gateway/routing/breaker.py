"""Circuit breakers, one per deployment (a provider endpoint and the upstream model on it).

closed    calls go through; successes and failures are counted over a rolling window. When
          at least `min_requests` were seen and `failure_rate` of them failed, it opens.
open      calls are refused at once (the router skips the deployment without waiting)
          until `cooldown_seconds` have passed; then it is half-open.
half-open `half_open_probes` calls go through. One failure opens it again; that many
          successes close it, with a fresh window.

Every state change bumps a generation number, so the result of a call admitted under an
older state is ignored. With Redis, replicas share the state and the counts (see
breaker_sync.py); the decision for a request stays local and costs no round trip, except
to claim a half-open probe.
"""

from __future__ import annotations

import enum
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gateway.routing.policy import BreakerPolicy
from gateway.routing.window import RollingCount
from gateway.telemetry import metrics
from providers import provider_class
from providers.base import ErrorKind

if TYPE_CHECKING:
    from gateway.catalog import Catalog


class State(enum.IntEnum):
    """Values are those of the `gateway_circuit_state` gauge."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class CallOutcome(enum.Enum):
    """What one call says about a deployment (not how the request ended: that is
    gateway.request.Outcome)."""

    SUCCESS = "success"
    FAILURE = "failure"
    NEUTRAL = "neutral"    # the client went away: says nothing about the deployment


# The one rule for every provider: connect errors, timeouts, 429 and 5xx (and what a broken
# upstream sends in their place: malformed answers, cut streams) count against the
# deployment's breaker; any other 4xx -- a request the upstream found invalid, a model it
# does not know (404), credentials it refused -- shows the deployment is up, and does not.
_NOT_COUNTED = frozenset({ErrorKind.BAD_REQUEST, ErrorKind.AUTH})


def outcome_of(kind: ErrorKind) -> CallOutcome:
    return CallOutcome.SUCCESS if kind in _NOT_COUNTED else CallOutcome.FAILURE


@dataclass(frozen=True, slots=True)
class Transition:
    key: str
    source: State
    target: State
    gen: int          # the generation of the new state
    until: float      # OPEN: wall-clock time when probing may begin


class Breaker:
    """One deployment's breaker: pure logic on the times it is given."""

    def __init__(self, key: str, provider: str, upstream: str, policy: BreakerPolicy,
                 *, closes_locally: bool = True) -> None:
        self.key, self.provider, self.upstream, self.policy = key, provider, upstream, policy
        # With shared state, probe successes are counted across replicas, not here
        # (unless the shared store is unreachable: see SharedBreakers).
        self.closes_locally = closes_locally
        self.state = State.CLOSED
        self.gen = 0
        self.until = 0.0
        self._ok = RollingCount(policy.window_seconds)
        self._failed = RollingCount(policy.window_seconds)
        self.remote_ok = 0          # other replicas' counts in the window (shared mode)
        self.remote_failed = 0
        self._probes_out = 0
        self._probe_successes = 0
        self._probe_period_start = 0.0

    def counts(self, now: float) -> tuple[int, int]:
        """(calls, failures) in the window, all replicas."""
        ok = self._ok.total(now) + self.remote_ok
        failed = self._failed.total(now) + self.remote_failed
        return ok + failed, failed

    def admit(self, now: float) -> tuple[bool | None, Transition | None]:
        """None: refused. False: an ordinary call. True: a half-open probe."""
        transition = None
        if self.state is State.OPEN:
            if now < self.until:
                return None, None
            transition = self._move(State.HALF_OPEN, now)
        if self.state is State.HALF_OPEN:
            if now - self._probe_period_start >= self.policy.cooldown_seconds:
                # probes that never reported (a stream nobody read) free their slots
                self._probes_out = 0
                self._probe_period_start = now
            if self._probes_out >= self.policy.half_open_probes:
                return None, transition
            self._probes_out += 1
            return True, transition
        return False, transition

    def withdraw_probe(self, gen: int) -> None:
        """A probe admitted here that another replica's probes crowded out."""
        if gen == self.gen:
            self._probes_out = max(0, self._probes_out - 1)

    def record(self, probe: bool, gen: int, outcome: CallOutcome, now: float) -> Transition | None:
        if gen != self.gen:
            return None     # admitted under a state that has since changed
        if probe:
            self._probes_out = max(0, self._probes_out - 1)
            if outcome is CallOutcome.FAILURE:
                return self._move(State.OPEN, now)
            if outcome is CallOutcome.SUCCESS and self.closes_locally:
                self._probe_successes += 1
                if self._probe_successes >= self.policy.half_open_probes:
                    return self._move(State.CLOSED, now)
            return None
        if outcome is CallOutcome.SUCCESS:
            self._ok.add(now)
        elif outcome is CallOutcome.FAILURE:
            self._failed.add(now)
            return self.evaluate(now)
        return None

    def evaluate(self, now: float) -> Transition | None:
        if self.state is not State.CLOSED:
            return None
        calls, failed = self.counts(now)
        if calls >= self.policy.min_requests and failed >= self.policy.failure_rate * calls:
            return self._move(State.OPEN, now)
        return None

    def adopt(self, state: State, gen: int, until: float, now: float) -> Transition | None:
        """Takes the state another replica decided; a Transition when it differs."""
        if gen == self.gen and state is self.state:
            self.until = until
            return None
        source = self.state
        self._enter(state, gen, until, now)
        return Transition(self.key, source, state, gen, until)

    def _move(self, target: State, now: float) -> Transition:
        source = self.state
        until = now + self.policy.cooldown_seconds if target is State.OPEN else 0.0
        self._enter(target, self.gen + 1, until, now)
        return Transition(self.key, source, target, self.gen, until)

    def _enter(self, state: State, gen: int, until: float, now: float) -> None:
        self.state, self.gen, self.until = state, gen, until
        self._probes_out = 0
        self._probe_successes = 0
        self._probe_period_start = now
        self.remote_ok = self.remote_failed = 0
        if state is State.CLOSED:
            # a fresh start; while open, the counts that opened it stay on view as they age
            self._ok.clear()
            self._failed.clear()


@dataclass(eq=False, slots=True)
class Permit:
    """Leave to make one call; release it with the call's outcome (once; later calls no-op)."""

    board: BreakerBoard
    breaker: Breaker
    probe: bool
    gen: int
    released: bool = False

    def release(self, outcome: CallOutcome) -> None:
        if not self.released:
            self.released = True
            self.board.settle(self, outcome)


@dataclass(frozen=True, slots=True)
class BreakerView:
    provider: str
    upstream: str
    state: State
    calls: int
    failures: int
    retry_after: float

    @property
    def error_rate(self) -> float:
        return self.failures / self.calls if self.calls else 0.0


def provider_identities(catalog: Catalog) -> dict[str, str]:
    """What makes a provider entry one upstream: its name, type and address -- the options
    its class declares in `identity_options`, never its credentials. Two gateways pointing
    at the same upstream share its breaker."""
    out = {}
    for name, entry in catalog.providers.items():
        options = entry.options
        identity = provider_class(entry.type).identity_options
        address = [f"{k}={options[k]}" for k in identity if k in options]
        out[name] = "|".join([name, entry.type, *address])
    return out


class SharedState(Protocol):
    """The breakers' state shared with other replicas (breaker_sync.SharedBreakers, built
    and attached by runtime.py): what the board calls on the request path."""

    @property
    def healthy(self) -> bool: ...
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    def note(self, breaker: Breaker, gen: int, ok: bool, now: float) -> None: ...
    def propose(self, breaker: Breaker, transition: Transition) -> None: ...
    def probe_succeeded(self, breaker: Breaker, gen: int) -> None: ...
    async def claim_probe(self, breaker: Breaker, gen: int, now: float) -> bool: ...


class BreakerBoard:
    """Every breaker of this process, the metrics that show them, and (once `share` is
    called) their state shared with other replicas."""

    def __init__(self, policy: BreakerPolicy, *, identities: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.policy = policy
        self.clock = clock
        self._identities = dict(identities or {})
        self._breakers: dict[tuple[str, str], Breaker] = {}
        self.by_key: dict[str, Breaker] = {}
        self.shared: SharedState | None = None

    def share(self, shared: SharedState) -> None:
        """From now on, decisions are shared through `shared` (before `start`)."""
        self.shared = shared
        for breaker in self._breakers.values():
            breaker.closes_locally = not shared.healthy

    @classmethod
    def for_catalog(cls, catalog: Catalog) -> BreakerBoard:
        board = cls(catalog.routing.breaker, identities=provider_identities(catalog))
        for entry in catalog.models.values():
            for deployment in entry.deployments:
                board.breaker(deployment.provider, deployment.upstream)
        return board

    async def start(self) -> None:
        if self.shared is not None:
            await self.shared.start()

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.close()

    def breaker(self, provider: str, upstream: str) -> Breaker:
        found = self._breakers.get((provider, upstream))
        if found is None:
            identity = self._identities.get(provider, provider)
            key = hashlib.sha256(f"{identity}\0{upstream}".encode()).hexdigest()[:24]
            found = Breaker(key, provider, upstream, self.policy,
                            closes_locally=self.shared is None or not self.shared.healthy)
            self._breakers[(provider, upstream)] = found
            self.by_key[key] = found
            metrics.CIRCUIT_STATE.labels(provider).set(self._worst(provider))
        return found

    async def acquire(self, provider: str, upstream: str) -> Permit | None:
        """A permit to call the deployment, or None at once when its breaker refuses."""
        breaker = self.breaker(provider, upstream)
        now = self.clock()
        probe, transition = breaker.admit(now)
        if transition is not None:
            self._changed(breaker, transition)
        if probe is None:
            return None
        gen = breaker.gen
        if probe and self.shared is not None and not await self.shared.claim_probe(breaker, gen, now):
            breaker.withdraw_probe(gen)
            return None
        return Permit(self, breaker, probe, gen)

    def settle(self, permit: Permit, outcome: CallOutcome) -> None:
        breaker, now = permit.breaker, self.clock()
        if self.shared is not None and permit.gen == breaker.gen:
            if permit.probe and outcome is CallOutcome.SUCCESS:
                self.shared.probe_succeeded(breaker, permit.gen)
            elif not permit.probe and outcome is not CallOutcome.NEUTRAL:
                self.shared.note(breaker, permit.gen, outcome is CallOutcome.SUCCESS, now)
        transition = breaker.record(permit.probe, permit.gen, outcome, now)
        if transition is not None:
            self._changed(breaker, transition)

    def retry_after(self, provider: str, upstream: str) -> float:
        """Seconds until the deployment takes calls again (0 when it does now)."""
        breaker = self.breaker(provider, upstream)
        if breaker.state is State.OPEN:
            return max(0.0, breaker.until - self.clock())
        if breaker.state is State.HALF_OPEN:
            return min(1.0, self.policy.cooldown_seconds)
        return 0.0

    def view(self, provider: str, upstream: str) -> BreakerView:
        breaker = self.breaker(provider, upstream)
        now = self.clock()
        if breaker.state is State.OPEN and now >= breaker.until:
            state = State.HALF_OPEN   # as the next request will find it
        else:
            state = breaker.state
        calls, failures = breaker.counts(now)
        return BreakerView(provider, upstream, state, calls, failures, self.retry_after(provider, upstream))

    # -- state changes ------------------------------------------------------------------

    def _changed(self, breaker: Breaker, transition: Transition) -> None:
        """A transition decided here. Alone, it is final; shared, replicas must agree."""
        metrics.CIRCUIT_STATE.labels(breaker.provider).set(self._worst(breaker.provider))
        if self.shared is None:
            self.count(breaker, transition.target)
        else:
            self.shared.propose(breaker, transition)

    def reevaluate(self, breaker: Breaker, now: float) -> None:
        """After other replicas' counts arrived: does the combined window open the breaker?"""
        transition = breaker.evaluate(now)
        if transition is not None:
            self._changed(breaker, transition)

    def adopt(self, key: str, state: State, gen: int, until: float) -> None:
        """The shared state of a breaker, as another replica (or Redis) has it."""
        breaker = self.by_key.get(key)
        if breaker is not None and breaker.adopt(state, gen, until, self.clock()) is not None:
            metrics.CIRCUIT_STATE.labels(breaker.provider).set(self._worst(breaker.provider))

    def count(self, breaker: Breaker, target: State) -> None:
        """Counted once per transition across replicas: by the one that made it."""
        metrics.CIRCUIT_TRANSITIONS.labels(breaker.provider, target.label).inc()

    def _worst(self, provider: str) -> int:
        """The provider's gauge shows its worst deployment."""
        return max((int(b.state) for (p, _), b in self._breakers.items() if p == provider), default=0)
