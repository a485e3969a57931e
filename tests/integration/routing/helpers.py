"""Shared by the routing and resilience tests: catalogs with tight timeouts, raw HTTP
helpers, and reading usage records back from the gateway's database."""

from __future__ import annotations

import time
from typing import Any

import httpx
import sqlalchemy as sa

from gateway.routing.breaker import BreakerBoard, CallOutcome
from gateway.usage.tables import usage_records
from tests.support.gateway import RunningGateway


def catalog(primary_url: str, secondary_url: str, *, first_byte: float = 2, idle: float = 2, total: float = 30,
            routing: str = "") -> str:
    """Two OpenAI-compatible fakes serving gpt-4o-mini (primary first), `solo` on primary only."""
    timeouts = f"{{connect: 2, first_byte: {first_byte}, idle: {idle}, total: {total}}}"
    return f"""
providers:
  primary:   {{type: openai, base_url: "{primary_url}", api_key: sk-upstream-secret-primary, timeouts: {timeouts}}}
  secondary: {{type: openai, base_url: "{secondary_url}", api_key: sk-upstream-secret-secondary,
              timeouts: {timeouts}}}
models:
  gpt-4o-mini:
    price: {{input: 0.15, output: 0.60}}
    deployments:
      - {{provider: primary, upstream: gpt-4o-mini}}
      - {{provider: secondary, upstream: gpt-4o-mini}}
  solo:
    price: {{input: 1, output: 2}}
    deployments: [{{provider: primary, upstream: solo-upstream}}]
aliases:
  cheapest: {{rank: price}}
  fastest: {{rank: latency}}
tiers:
  pro: {{rpm: 100000, tpm: 100000000}}
cache: {{mode: "off"}}
{routing}
"""


def chat(gw: RunningGateway, key: str, *, model: str = "gpt-4o-mini", stream: bool = False, text: str = "hi",
         request_id: str | None = None, timeout: float = 30) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    if request_id:
        headers["x-request-id"] = request_id
    return httpx.post(gw.url + "/v1/chat/completions", headers=headers, timeout=timeout,
                      json={"model": model, "messages": [{"role": "user", "content": text}], "stream": stream})


def usage_record(gw: RunningGateway, request_id: str, wait: float = 10) -> dict[str, Any]:
    """The usage record of the request sent with x-request-id `request_id`, once flushed."""
    deadline = time.monotonic() + wait
    while True:
        gw.flush_usage()

        async def read() -> list[dict[str, Any]]:
            async with gw.runtime.engine.connect() as conn:
                query = sa.select(usage_records).where(usage_records.c.client_request_id == request_id)
                return [dict(row) for row in (await conn.execute(query)).mappings().all()]

        rows: list[dict[str, Any]] = gw.run(read)
        if rows:
            return rows[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no usage record for {request_id} within {wait}s")
        time.sleep(0.05)


def sse_events(text: str) -> list[str]:
    return [line[len("data: "):] for line in text.splitlines() if line.startswith("data: ")]


async def fail(board: BreakerBoard, provider: str, times: int) -> None:
    """`times` failed calls to deployment "m" of `provider`, as the router reports them."""
    for _ in range(times):
        permit = await board.acquire(provider, "m")
        assert permit is not None
        permit.release(CallOutcome.FAILURE)
