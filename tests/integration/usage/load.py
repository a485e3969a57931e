"""A bounded load of chat completions against a gateway, recording each answer's status and
x-request-id (what the usage tests compare with the records)."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

import httpx


@dataclass
class LoadResult:
    ok_ids: list[str] = field(default_factory=list)        # x-request-id of every 200
    statuses: dict[int, int] = field(default_factory=dict)  # status -> count; 0 = no response
    sent: int = 0


async def send_chats(urls: list[str], key: str, total: int, *, concurrency: int = 16, feature: str = "load",
                     model: str = "mock-echo", time_limit: float = 120.0, request_timeout: float = 10.0,
                     result: LoadResult | None = None) -> LoadResult:
    """`total` requests spread round-robin over `urls`; stops early at `time_limit` seconds.
    `result` (filled as answers arrive) lets another thread watch the progress."""
    result = result if result is not None else LoadResult()
    counter = itertools.count()
    targets = itertools.cycle(urls)
    headers = {"Authorization": f"Bearer {key}", "x-gateway-feature": feature}

    async def worker(client: httpx.AsyncClient) -> None:
        while (n := next(counter)) < total:
            url = next(targets)
            result.sent += 1
            try:
                response = await client.post(url + "/v1/chat/completions", headers=headers, json={
                    "model": model, "messages": [{"role": "user", "content": f"request number {n}"}]})
                status = response.status_code
                if status == 200:
                    result.ok_ids.append(response.headers["x-request-id"])
            except httpx.HTTPError:
                status = 0
            result.statuses[status] = result.statuses.get(status, 0) + 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=request_timeout, limits=limits) as client:
        workers = [asyncio.create_task(worker(client)) for _ in range(concurrency)]
        done, pending = await asyncio.wait(workers, timeout=time_limit)
        for task in pending:
            task.cancel()
        for task in done:
            task.result()
    return result
