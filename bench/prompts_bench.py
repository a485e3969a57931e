"""What stored prompts cost the request path, in CPU microseconds per request (process CPU
time, which a busy machine disturbs less than wall time):

    no prompt     what every request pays: the `x-gateway-prompt` header lookup and the
                  prompts stage's attribute test
    label, warm   a request naming `id@production`, its label and content cached: the
                  stage's resolve, render and merge into the chat body
    label, cold   the same with the label pointer dropped before each request (as after a
                  move): one SQLite query added

Run: python bench/prompts_bench.py [--requests 20000] [--repeat 3]   (prints the median of the repeats)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from starlette.datastructures import Headers

from gateway.api import prompt_ref
from gateway.db import create_engine, migrate
from gateway.pipeline.prompts import RenderPrompt
from gateway.prompts.resolver import PromptResolver
from gateway.prompts.service import PromptService
from gateway.request import ClientApi, PromptRef, RequestContext
from gateway.tenancy.changes import Change, ChangeKind
from gateway.tenancy.models import ApiKey, Principal, Tenant
from gateway.tenancy.service import TenancyService
from providers.base import ChatRequest

CONTENT = {"model": "gpt-4o-mini", "instructions": "You triage support tickets for {{product}}. " * 8,
           "input": "Ticket: {{ticket}}", "params": {"temperature": 0.2}}
HEADERS = Headers({"authorization": "Bearer sk-x", "content-type": "application/json", "user-agent": "bench",
                   "accept": "application/json", "x-request-id": "r1", "host": "127.0.0.1"})


def cpu_us(count: int, work: Callable[[], None]) -> float:
    started = time.process_time()
    for _ in range(count):
        work()
    return (time.process_time() - started) / count * 1e6


async def cpu_us_async(count: int, work: Callable[[], Awaitable[None]]) -> float:
    started = time.process_time()
    for _ in range(count):
        await work()
    return (time.process_time() - started) / count * 1e6


async def main(requests: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{directory}/bench.db"
        await migrate(url)
        engine = create_engine(url)
        tenant = await TenancyService(engine, ["pro"]).create_tenant("bench", tier="pro", models=["*"])
        await PromptService(engine).create("triage", CONTENT, tenant="bench")
        await PromptService(engine).set_label("triage", "production", 1, tenant="bench")
        resolver = PromptResolver(engine, ttl=3600)
        stage = RenderPrompt(resolver)
        principal = Principal(tenant=Tenant(id=tenant["id"], name="bench", tier="pro", models=("*",)),
                              key=ApiKey(id="k", tenant_id=tenant["id"], prefix="sk-b", label=None, expires_at=None,
                                         revoked_at=None))
        ref = PromptRef(name="triage", version="production", variables={"product": "Acme", "ticket": "slow login"})
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}

        def ctx(with_prompt: bool) -> RequestContext:
            context = RequestContext(request_id="r", request=ChatRequest(dict(body)), api_key=None,
                                     prompt_ref=ref if with_prompt else None)
            context.principal = principal
            return context

        unprompted = ctx(False)

        async def plain() -> None:          # what a request without a prompt pays
            prompt_ref.from_headers(HEADERS, body, ClientApi.CHAT)
            await stage(unprompted)

        async def baseline() -> None:       # building a fresh context: subtracted from the two below
            ctx(True)

        async def warm() -> None:
            await stage(ctx(True))

        async def cold() -> None:
            resolver.apply(Change(ChangeKind.PROMPT, f"{tenant['id']}/triage"))
            await stage(ctx(True))

        await warm()
        figures: dict[str, list[float]] = {"no prompt": [], "label, warm": [], "label, cold": []}
        for _ in range(repeat):
            figures["no prompt"].append(await cpu_us_async(requests, plain))
            base = await cpu_us_async(requests, baseline)
            figures["label, warm"].append(await cpu_us_async(requests, warm) - base)
            figures["label, cold"].append(await cpu_us_async(max(requests // 20, 50), cold) - base)
        await engine.dispose()
    for name, values in figures.items():
        print(f"{name:12s}  {statistics.median(values):8.2f} us CPU per request (median of {repeat}: "
              f"{', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    asyncio.run(main(options.requests, options.repeat))
