"""The fault suite's load and its checks: a steady, bounded load on both replicas while a
fault is on, then the figures every scenario is judged by -- requests, statuses, worst
latency, usage records against 200s, duplicates -- and a table of them."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.usage.tables import usage_records

MAX_REQUESTS = 3000          # per scenario, whatever the timing
CONCURRENCY = 4


@dataclass
class Answer:
    status: int              # 0: no HTTP answer at all
    seconds: float
    gateway_id: str | None
    body: bytes = b""


@dataclass
class Load:
    """Requests sent round-robin to `urls` from a thread of its own until `stop()`."""

    urls: list[str]
    key: str
    scenario: str
    body: dict[str, Any]
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Load:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name=f"load-{self.scenario}")
        self._thread.start()
        return self

    def stop(self) -> list[Answer]:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(60)
        assert not self._thread.is_alive(), "the load did not stop"
        return self.answers

    async def _run(self) -> None:
        counter = itertools.count()
        targets = itertools.cycle(self.urls)
        deadline = time.monotonic() + 60
        stream = bool(self.body.get("stream"))

        async def worker(client: httpx.AsyncClient) -> None:
            while not self._stop.is_set() and time.monotonic() < deadline and (n := next(counter)) < MAX_REQUESTS:
                headers = {"Authorization": f"Bearer {self.key}", "x-gateway-feature": self.scenario,
                           "x-request-id": f"{self.scenario}-{n}"}
                started = time.monotonic()
                try:
                    response = await client.post(next(targets) + "/v1/chat/completions", headers=headers,
                                                 json=self.body)
                    answer = Answer(response.status_code, 0.0, response.headers.get("x-gateway-request-id"),
                                    response.content if (response.status_code != 200 or stream) else b"")
                except httpx.HTTPError:
                    answer = Answer(0, 0.0, None)
                answer.seconds = time.monotonic() - started
                self.answers.append(answer)
                await asyncio.sleep(0.01)

        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))


@dataclass
class Figures:
    scenario: str
    requests: int
    statuses: Counter[int]
    worst_seconds: float
    ok: int
    ok_recorded: int
    records: int
    duplicates: int
    limits_exact: bool | None = None

    def row(self) -> str:
        statuses = " ".join(f"{status}:{count}" for status, count in sorted(self.statuses.items()))
        limits = "-" if self.limits_exact is None else ("exact" if self.limits_exact else "NOT exact")
        return (f"{self.scenario:<24} {self.requests:>6} {statuses:<28} {self.worst_seconds:>7.2f}s "
                f"{self.ok_recorded:>5}/{self.ok:<5} {self.records:>7} {self.duplicates:>4}  {limits}")


HEADER = (f"{'scenario':<24} {'reqs':>6} {'statuses':<28} {'worst':>8} {'rec/200':>11} {'records':>7} "
          f"{'dups':>4}  limits")


def _records(database_url: str, scenario: str) -> tuple[set[str], int, int]:
    """(gateway request ids, records, distinct client request ids) of a scenario's records."""

    async def query() -> tuple[set[str], int, int]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                rows = (await conn.execute(sa.select(usage_records.c.request_id, usage_records.c.client_request_id)
                                           .where(usage_records.c.feature == scenario))).all()
        finally:
            await engine.dispose()
        return {r.request_id for r in rows}, len(rows), len({r.client_request_id for r in rows})

    return asyncio.run(query())


def figures(scenario: str, answers: list[Answer], database_url: str, *, wait: float = 30) -> Figures:
    """The scenario's figures, once every 200 has its record or `wait` seconds have passed."""
    ok = {a.gateway_id for a in answers if a.status == 200 and a.gateway_id}
    deadline = time.monotonic() + wait
    while True:
        recorded, records, distinct = _records(database_url, scenario)
        if ok <= recorded or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    return Figures(scenario=scenario, requests=len(answers), statuses=Counter(a.status for a in answers),
                   worst_seconds=max((a.seconds for a in answers), default=0.0), ok=len(ok),
                   ok_recorded=len(ok & recorded), records=records, duplicates=records - distinct)


def limits_exact(urls: list[str], key: str, rpm: int) -> bool:
    """`rpm` + 2 requests over both replicas: exactly `rpm` admitted, the rest 429."""
    statuses: Counter[int] = Counter()
    with httpx.Client(timeout=10) as client:
        for n, url in zip(range(rpm + 2), itertools.cycle(urls), strict=False):
            response = client.post(url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                                   json={"model": "mock-echo", "messages": [{"role": "user", "content": f"n{n}"}]})
            statuses[response.status_code] += 1
    return statuses == Counter({200: rpm, 429: 2})
