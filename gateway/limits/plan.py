"""What one reservation checks, and what the answer says. Shared by every store, so that
Redis and the in-process store decide alike; a store only keeps the numbers.

    limit         counted over                                   kind
    rpm           requests in the last minute (sliding)           WINDOW
    rpd           requests since 00:00 UTC today                  COUNTER
    tpm           tokens in the last minute (sliding)             SUM
    daily_tokens  tokens since 00:00 UTC today                    COUNTER
    monthly_usd   micro-dollars since the 1st, 00:00 UTC          COUNTER

A request is admitted only if every check of its tenant (and of its key, when the key has
limits of its own) fits; then each one takes the request's amount at once. Tokens and
dollars are estimates until the charge stage settles them with actual usage.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum

from gateway.errors import RateLimited
from gateway.limits.base import QuotaRequest, Window
from gateway.limits.headers import ratelimit_headers
from gateway.tenancy.models import Limits

KEY_PREFIX = "gw:rl:v1:"                 # bump with any change of key layout or script meaning
RECORD_TTL_MS = 24 * 3600 * 1000         # an unsettled reservation (crashed process) is forgotten after this
COUNTER_GRACE_MS = 3600 * 1000           # a period's counter outlives it, so late settlements still land
MICRO = Decimal(1_000_000)


class Kind(StrEnum):
    WINDOW = "w"      # requests in a sliding window
    SUM = "s"         # amounts (tokens) in a sliding window
    COUNTER = "c"     # a running total for a calendar period (UTC day or month)


MEASURES = {"rpm": "requests", "rpd": "requests", "tpm": "tokens", "daily_tokens": "tokens", "monthly_usd": "usd"}
TITLES = {"rpm": "requests per minute", "rpd": "requests per day (UTC)", "tpm": "tokens per minute",
          "daily_tokens": "tokens per day (UTC)", "monthly_usd": "USD per calendar month (UTC)"}


@dataclass(frozen=True, slots=True)
class Check:
    name: str               # rpm | rpd | tpm | daily_tokens | monthly_usd
    scope: str              # "tenant" or "key"
    kind: Kind
    key: str                # the store key (Redis key, or the in-process dict key)
    limit: int
    amount: int             # what this request takes: 1 request, N tokens, N micro-dollars
    period_end_ms: int = 0  # COUNTER: when its period ends (epoch ms)

    @property
    def measure(self) -> str:
        return MEASURES[self.name]

    @property
    def keys(self) -> tuple[str, ...]:
        """A SUM window is a sorted set of entries plus a hash of their amounts."""
        return (self.key, self.key + ":n") if self.kind is Kind.SUM else (self.key,)


@dataclass(frozen=True, slots=True)
class Plan:
    id: str                 # the reservation's id: its member in the windows
    scope: str
    record_key: str         # exists while the reservation is open: settles once, replays safely
    now_ms: int
    checks: tuple[Check, ...]


@dataclass(frozen=True, slots=True)
class Handle:
    plan: Plan
    origin: str             # the store that holds it: "redis" or "memory"


@dataclass(frozen=True, slots=True)
class CheckState:
    used: int               # after this request when admitted; as found when rejected
    reset_ms: int           # until the oldest entry leaves the window, or the period ends
    retry_ms: int | None = None   # rejected: until this check would fit; None: it fits


def scope_prefix(tenant: str) -> str:
    """Every key of a tenant carries `{tenant}`: one Redis Cluster slot per tenant."""
    return f"{KEY_PREFIX}{{{tenant}}}:"


def micro_usd(usd: Decimal) -> int:
    """Spend in whole micro-dollars, rounded up: the counter never understates it."""
    return int((usd * MICRO).to_integral_value(rounding=ROUND_CEILING))


def budget_micro_usd(usd: Decimal) -> int:
    return int((usd * MICRO).to_integral_value(rounding=ROUND_FLOOR))


def to_ms(seconds: float) -> int:
    return int(seconds * 1000)


def day_period(now_ms: int) -> tuple[str, int]:
    """The UTC day's label and the epoch ms at which it ends."""
    day, day_end, _, _ = _periods(now_ms // 86_400_000)
    return day, day_end


def month_period(now_ms: int) -> tuple[str, int]:
    """The UTC calendar month's label and the epoch ms at which it ends."""
    _, _, month, month_end = _periods(now_ms // 86_400_000)
    return month, month_end


@functools.lru_cache(maxsize=8)
def _periods(day: int) -> tuple[str, int, str, int]:
    """Day and month of a UTC day number: computed once a day, not once a request."""
    start = datetime.fromtimestamp(day * 86_400, UTC)
    following = datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
    return start.strftime("%Y%m%d"), (day + 1) * 86_400_000, start.strftime("%Y%m"), int(following.timestamp()) * 1000


def make_plan(request: QuotaRequest, now_ms: int, reservation_id: str | None = None) -> Plan:
    prefix = scope_prefix(request.scope)
    scopes: list[tuple[str, str, Limits]] = [("tenant", prefix, request.limits)]
    if request.key_id and request.key_limits is not None:
        scopes.append(("key", f"{prefix}key:{request.key_id}:", request.key_limits))
    day, day_end = day_period(now_ms)
    month, month_end = month_period(now_ms)
    tokens = max(0, request.tokens)
    usd = micro_usd(request.usd)
    checks: list[Check] = []
    for scope, base, limits in scopes:
        if limits.rpm is not None:
            checks.append(Check("rpm", scope, Kind.WINDOW, base + "rpm", int(limits.rpm), 1))
        if limits.rpd is not None:
            checks.append(Check("rpd", scope, Kind.COUNTER, f"{base}rpd:{day}", int(limits.rpd), 1, day_end))
        if limits.tpm is not None:
            checks.append(Check("tpm", scope, Kind.SUM, base + "tpm", int(limits.tpm), tokens))
        if limits.daily_tokens is not None:
            checks.append(Check("daily_tokens", scope, Kind.COUNTER, f"{base}tokens:{day}",
                                int(limits.daily_tokens), tokens, day_end))
        if limits.monthly_usd is not None:
            checks.append(Check("monthly_usd", scope, Kind.COUNTER, f"{base}usd:{month}",
                                budget_micro_usd(limits.monthly_usd), usd, month_end))
    rid = reservation_id or secrets.token_hex(8)
    return Plan(id=rid, scope=request.scope, record_key=f"{prefix}res:{rid}", now_ms=now_ms, checks=tuple(checks))


def adjustments(plan: Plan, tokens: int, usd: Decimal) -> list[tuple[Check, int]]:
    """What settling with actual usage changes: each token and dollar check moves by the
    difference between the actual amount and the reserved one. Request counts stay."""
    actual = {"tokens": max(0, tokens), "usd": micro_usd(max(usd, Decimal(0)))}
    out: list[tuple[Check, int]] = []
    for check in plan.checks:
        if check.measure in actual and actual[check.measure] != check.amount:
            out.append((check, actual[check.measure] - check.amount))
    return out


def conclude(plan: Plan, states: list[CheckState], admitted: bool) -> tuple[Window | None, Window | None]:
    """The header windows of an admitted request, or the 429 of a rejected one."""
    requests, tokens = _tightest(plan, states, "requests"), _tightest(plan, states, "tokens")
    if admitted:
        return requests, tokens
    failing = [(c, s) for c, s in zip(plan.checks, states, strict=True) if s.retry_ms is not None]
    check, state = max(failing, key=lambda pair: pair[1].retry_ms or 0)
    retry_after = max(0, state.retry_ms or 0) / 1000
    raise RateLimited(_message(plan, check, state, retry_after), limit=check.name, retry_after=retry_after,
                      headers=ratelimit_headers(requests, tokens))


def _tightest(plan: Plan, states: list[CheckState], measure: str) -> Window | None:
    best: Window | None = None
    for check, state in zip(plan.checks, states, strict=True):
        if check.measure != measure:
            continue
        window = Window(limit=check.limit, remaining=max(0, check.limit - state.used),
                        reset_seconds=max(0, state.reset_ms) / 1000)
        if best is None or window.remaining < best.remaining:
            best = window
    return best


def _amount(check: Check, value: int) -> str:
    if check.measure == "usd":
        return f"${Decimal(value) / MICRO:f}"
    unit = check.measure if value != 1 else check.measure[:-1]
    return f"{value} {unit}"


def _message(plan: Plan, check: Check, state: CheckState, retry_after: float) -> str:
    whose = f"tenant '{plan.scope}'" if check.scope == "tenant" else "this API key"
    what = f"{TITLES[check.name]} ({check.name}) of {whose}"
    if check.amount > check.limit:
        return (f"Request too large for the {what}: it needs {_amount(check, check.amount)}, the limit is "
                f"{_amount(check, check.limit)}. Lower max_tokens or ask for a higher limit.")
    return (f"Rate limit reached for {what}: limit {_amount(check, check.limit)}, in use "
            f"{_amount(check, state.used)}, this request needs {_amount(check, check.amount)}. "
            f"Retry after {retry_after:.1f}s.")
