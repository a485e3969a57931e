"""The semantic cache end to end: real `serve` processes and in-thread gateways, the local
all-MiniLM-L6-v2 model, real Redis, fake upstreams on loopback, the OpenAI SDK."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from openai import OpenAI
from openai.lib.streaming.chat import ChatCompletionStreamState
from sqlalchemy import select

from gateway.usage.tables import usage_records
from tests.conftest import make_settings, unique
from tests.fakes.openai_upstream import FakeOpenAI
from tests.integration.tenancy.support import LLM_GATEWAY, GatewayProcess, gateway_env, run_cli
from tests.support.gateway import RunningGateway, running_gateway, write_catalog
from tests.support.threads import LoopThread, free_port

pytestmark = [pytest.mark.timeout(240)]

LOCAL_MODEL = """
  all-minilm-l6-v2:
    kind: embeddings
    price: {{input: 0.01, output: 0}}
    deployments: [{{provider: local, upstream: all-MiniLM-L6-v2}}]
"""


def catalog(upstream_url: str, *, embeddings: str = "local", extra_providers: str = "", mode: str = "semantic",
            timeout_ms: int = 2000) -> str:
    embedding_model = "all-minilm-l6-v2" if embeddings == "local" else "remote-embed"
    models = LOCAL_MODEL.format() if embeddings == "local" else """
  remote-embed:
    kind: embeddings
    price: {input: 0.02, output: 0}
    deployments: [{provider: embedder, upstream: text-embedding-3-small}]
"""
    return f"""
providers:
  primary: {{type: openai, base_url: "{upstream_url}", api_key: sk-upstream-secret}}
  local: {{type: local}}
{extra_providers}
models:
  gpt-4o-mini:
    price: {{input: 0.15, output: 0.60}}
    deployments: [{{provider: primary, upstream: gpt-4o-mini}}]
  gpt-4o:
    price: {{input: 2.5, output: 10}}
    deployments: [{{provider: primary, upstream: gpt-4o}}]
{models}
tiers:
  pro: {{rpm: 100000}}
cache:
  mode: {mode}
  ttl_seconds: 300
  semantic: {{embedding_model: {embedding_model}, timeout_ms: {timeout_ms}}}
"""


def ask(sdk: OpenAI, content: str, **params: Any) -> tuple[dict[str, str], str | None]:
    messages = params.pop("messages", None) or [{"role": "user", "content": content}]
    raw = sdk.chat.completions.with_raw_response.create(model=params.pop("model", "gpt-4o-mini"),
                                                        messages=messages, **params)
    return dict(raw.headers), raw.parse().choices[0].message.content


def sdk_for(url: str, key: str) -> OpenAI:
    return OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=30)


@pytest.fixture
def local_gateway(upstream: FakeOpenAI, sqlite_url: str, tmp_path: Path) -> Iterator[RunningGateway]:
    pytest.importorskip("onnxruntime", reason="needs the `local` extra")
    config = write_catalog(tmp_path, catalog(upstream.url))
    with running_gateway(make_settings(sqlite_url, config)) as gw:
        yield gw


@pytest.mark.semantic
def test_a_paraphrase_hits_and_says_so(local_gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    sdk = sdk_for(local_gateway.url, local_gateway.create_key())
    headers, first = ask(sdk, "What is the capital of France?")
    assert headers["x-gateway-cache"] == "miss" and "x-gateway-cache-match" not in headers
    headers, again = ask(sdk, "Could you please tell me the capital of France?")
    assert headers["x-gateway-cache"] == "hit" and headers["x-gateway-cache-match"] == "semantic"
    assert 0.75 <= float(headers["x-gateway-cache-similarity"]) < 1
    assert again == first == "echo: What is the capital of France?"
    headers, _ = ask(sdk, "What is the capital of France?")
    assert (headers["x-gateway-cache-match"], headers["x-gateway-cache-similarity"]) == ("exact", "1.0000")
    headers, other = ask(sdk, "What is the capital of Germany?")
    assert headers["x-gateway-cache"] == "miss" and other == "echo: What is the capital of Germany?"
    assert len(upstream.requests) == 2


@pytest.mark.semantic
def test_anything_else_that_changes_the_answer_is_a_miss(local_gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    sdk = sdk_for(local_gateway.url, local_gateway.create_key())
    question, paraphrase = "How do I reverse a list in Python?", "In Python, how do I reverse a list?"
    system = {"role": "system", "content": "You are terse."}
    base: dict[str, Any] = {"messages": [system, {"role": "user", "content": question}], "temperature": 0.2,
                            "seed": 7}
    assert ask(sdk, "", **dict(base))[0]["x-gateway-cache"] == "miss"
    para = {**base, "messages": [system, {"role": "user", "content": paraphrase}]}
    assert ask(sdk, "", **dict(para))[0]["x-gateway-cache-match"] == "semantic"     # the control
    tool = {"type": "function", "function": {"name": "run", "parameters": {"type": "object", "properties": {}}}}
    changes: list[dict[str, Any]] = [
        {"messages": [{"role": "system", "content": "You are verbose."}, {"role": "user", "content": paraphrase}]},
        {"model": "gpt-4o"},
        {"temperature": 0.9},
        {"seed": 8},
        {"tools": [tool]},
        {"response_format": {"type": "json_object"}},
    ]
    for change in changes:
        headers, _ = ask(sdk, "", **{**para, **change})
        assert headers["x-gateway-cache"] == "miss", change
    assert len(upstream.requests) == 1 + len(changes)


@pytest.mark.semantic
def test_a_semantic_hit_streams_the_stored_answer(local_gateway: RunningGateway) -> None:
    sdk = sdk_for(local_gateway.url, local_gateway.create_key())
    _, stored = ask(sdk, "Why is the sky blue?")
    raw = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Can you explain why the sky is blue?"}],
        stream=True, stream_options={"include_usage": True})
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    chunks = list(raw.parse())
    for chunk in chunks:
        state.handle_chunk(chunk)
    assert raw.headers["x-gateway-cache"] == "hit" and raw.headers["x-gateway-cache-match"] == "semantic"
    assert state.get_final_completion().choices[0].message.content == stored == "echo: Why is the sky blue?"
    assert all((c.model_extra or {}).get("cache") == "hit" for c in chunks)


@pytest.mark.semantic
def test_the_usage_record_says_which_hit_and_the_embedding_call_is_billed(local_gateway: RunningGateway) -> None:
    tenant = local_gateway.create_tenant()
    sdk = sdk_for(local_gateway.url, local_gateway.create_key(tenant))
    ask(sdk, "How do I cancel my subscription?")
    ask(sdk, "Could you please tell me how to cancel my subscription?")
    local_gateway.flush_usage()

    async def records() -> list[Any]:
        async with local_gateway.runtime.engine.connect() as conn:
            query = select(usage_records).where(usage_records.c.tenant == tenant).order_by(usage_records.c.id)
            return list((await conn.execute(query)).all())

    found = local_gateway.run(records)
    chats = [r for r in found if r.feature != "semantic-cache"]
    embeddings = [r for r in found if r.feature == "semantic-cache"]
    assert [(r.cache_hit, r.cache_match) for r in chats] == [(False, None), (True, "semantic")]
    assert chats[1].cache_similarity is not None and 0.75 <= chats[1].cache_similarity < 1
    assert len(embeddings) == 2 and all(r.model == "all-minilm-l6-v2" and r.provider == "local" for r in embeddings)
    assert all(r.prompt_tokens > 0 and r.cost_usd > 0 for r in embeddings)


@pytest.mark.semantic
def test_local_embeddings_answer_the_embeddings_route(local_gateway: RunningGateway) -> None:
    sdk = sdk_for(local_gateway.url, local_gateway.create_key())
    result = sdk.embeddings.create(model="all-minilm-l6-v2", input=["What is the capital of France?", "hello"])
    assert [len(d.embedding) for d in result.data] == [384, 384]
    assert abs(sum(v * v for v in result.data[0].embedding) - 1) < 1e-3
    assert result.usage.prompt_tokens > 0


class SlowEmbeddings:
    """An embeddings upstream that answers after `delay` seconds, or with a 500."""

    def __init__(self, delay: float = 0.0, status: int = 200) -> None:
        self.delay, self.status, self.port = delay, status, free_port()
        self.thread = LoopThread("slow-embeddings")
        self.calls = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.status != 200:
            return web.json_response({"error": {"message": "down"}}, status=self.status)
        return web.json_response({"object": "list", "data": [{"object": "embedding", "index": 0,
                                                              "embedding": [0.1, 0.2, 0.3]}],
                                  "usage": {"prompt_tokens": 3, "total_tokens": 3}})

    def __enter__(self) -> SlowEmbeddings:
        app = web.Application()
        app.router.add_post("/v1/embeddings", self.handle)

        async def start() -> web.AppRunner:
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            return runner

        self.runner = self.thread.call(start)
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.call(self.runner.cleanup)
        self.thread.stop()


@pytest.mark.parametrize("failure", ["down", "slow", "error"])
def test_an_embedding_failure_is_a_plain_miss(failure: str, upstream: FakeOpenAI, sqlite_url: str,
                                              tmp_path: Path) -> None:
    with ExitStack() as stack:
        if failure == "down":
            url = f"http://127.0.0.1:{free_port()}/v1"            # nothing listens there
        else:
            server = stack.enter_context(SlowEmbeddings(delay=5.0 if failure == "slow" else 0.0,
                                                        status=200 if failure == "slow" else 500))
            url = f"http://127.0.0.1:{server.port}/v1"
        providers = f'  embedder: {{type: openai, base_url: "{url}", api_key: sk-embed}}'
        config = write_catalog(tmp_path, catalog(upstream.url, embeddings="remote", extra_providers=providers,
                                                 timeout_ms=300).replace("  local: {type: local}\n", ""))
        gw = stack.enter_context(running_gateway(make_settings(sqlite_url, config)))
        sdk = sdk_for(gw.url, gw.create_key())
        for question in ("What is the capital of France?", "whats the capital of france"):
            headers, text = ask(sdk, question)
            assert headers["x-gateway-cache"] == "miss" and text == f"echo: {question}"
        headers, _ = ask(sdk, "What is the capital of France?")
        assert headers["x-gateway-cache-match"] == "exact"            # the exact cache still works
        assert len(upstream.requests) == 2


def test_any_catalog_embeddings_model_serves_the_cache(upstream: FakeOpenAI, sqlite_url: str, tmp_path: Path) -> None:
    # The fake upstream's embedding depends on the text's length only: same length, same vector.
    providers = f'  embedder: {{type: openai, base_url: "{upstream.url}", api_key: sk-embed}}'
    config = write_catalog(tmp_path, catalog(upstream.url, embeddings="remote", extra_providers=providers)
                           .replace("  local: {type: local}\n", ""))
    with running_gateway(make_settings(sqlite_url, config)) as gw:
        sdk = sdk_for(gw.url, gw.create_key())
        assert ask(sdk, "What is the capital of France?")[0]["x-gateway-cache"] == "miss"
        headers, text = ask(sdk, "what is the capital of France!")
        assert headers["x-gateway-cache-match"] == "semantic" and text == "echo: What is the capital of France?"
        assert len(upstream.requests) == 1          # the chat upstream saw the first question only


@pytest.mark.parametrize(("model", "message"), [
    ("nope", "unknown model 'nope'"),
    ("gpt-4o-mini", "'gpt-4o-mini' is a chat model; the semantic cache needs a model of kind embeddings"),
])
def test_a_bad_embedding_model_refuses_to_start(model: str, message: str, sqlite_url: str, tmp_path: Path) -> None:
    (tmp_path / "gateway.yaml").write_text(catalog("http://127.0.0.1:9/v1").replace(
        "embedding_model: all-minilm-l6-v2", f"embedding_model: {model}"))
    env = gateway_env(sqlite_url, tmp_path)
    done = subprocess.run([LLM_GATEWAY, "serve", "--port", str(free_port())], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    line = next(i for i, text in enumerate(catalog("").splitlines(), 1) if "embedding_model" in text)
    assert f"{tmp_path / 'gateway.yaml'}:{line}: cache.semantic.embedding_model: {message}" in done.stdout + done.stderr


@pytest.fixture
def replicas(upstream: FakeOpenAI, postgres_url: str, redis_url: str,
             tmp_path: Path) -> Iterator[tuple[GatewayProcess, GatewayProcess, dict[str, str]]]:
    pytest.importorskip("onnxruntime", reason="needs the `local` extra")
    (tmp_path / "gateway.yaml").write_text(catalog(upstream.url))
    env = gateway_env(postgres_url, tmp_path, redis_url=redis_url, log_level="warning",
                      usage_stream_key=f"gw:usage:test:{unique()}")
    with ExitStack() as stack:
        yield (stack.enter_context(GatewayProcess(env, tmp_path)), stack.enter_context(GatewayProcess(env, tmp_path)),
               env)


def new_key(replica: GatewayProcess, tenant: str) -> str:
    assert replica.admin("POST", "/admin/tenants", json={"name": tenant, "tier": "pro", "models": ["*"]}).status_code == 201
    issued = replica.admin("POST", f"/admin/tenants/{tenant}/keys", json={"label": "semantic"})
    assert issued.status_code == 201, issued.text
    key: str = issued.json()["key"]
    return key


@pytest.mark.semantic
def test_two_processes_share_semantic_entries_per_tenant_and_clear_them(
        replicas: tuple[GatewayProcess, GatewayProcess, dict[str, str]], upstream: FakeOpenAI, tmp_path: Path) -> None:
    first, second, env = replicas
    mine, theirs = unique("sem"), unique("sem")
    key, other = new_key(first, mine), new_key(second, theirs)
    question = f"How do I reset my password for account {unique()}?"
    paraphrase = "Hello, could you please tell me " + question[0].lower() + question[1:]
    assert ask(sdk_for(first.url, key), question)[0]["x-gateway-cache"] == "miss"
    headers, text = ask(sdk_for(second.url, key), paraphrase)
    assert headers["x-gateway-cache-match"] == "semantic" and text == f"echo: {question}"
    # another tenant: neither the same prompt nor the paraphrase hits, on either process
    # (no-store: these misses leave nothing behind for the next one)
    for replica, prompt in ((first, question), (second, question), (first, paraphrase), (second, paraphrase)):
        headers, _ = ask(sdk_for(replica.url, other), prompt, extra_headers={"Cache-Control": "no-store"})
        assert headers["x-gateway-cache"] == "miss"
    assert ask(sdk_for(second.url, other), question)[0]["x-gateway-cache"] == "miss"
    assert ask(sdk_for(first.url, other), paraphrase)[0]["x-gateway-cache-match"] == "semantic"   # its own
    assert len(upstream.requests) == 6

    # `cache clear` empties this tenant's entries, exact and semantic, and no other tenant's
    done = run_cli(["cache", "clear", "--tenant", mine], env, tmp_path)
    assert '"exact": 1' in done.stdout and '"semantic": 1' in done.stdout
    assert ask(sdk_for(first.url, key), question)[0]["x-gateway-cache"] == "miss"
    assert ask(sdk_for(second.url, other), question)[0]["x-gateway-cache"] == "hit"
    # and the same through the admin API, one model at a time
    cleared = first.admin("POST", "/admin/cache/clear", json={"tenant": theirs, "model": "gpt-4o"})
    assert cleared.status_code == 200 and cleared.json()["removed"] == {"exact": 0, "semantic": 0}
    cleared = first.admin("POST", "/admin/cache/clear", json={"tenant": theirs, "model": "gpt-4o-mini"})
    assert cleared.json()["removed"] == {"exact": 1, "semantic": 1}
    assert ask(sdk_for(second.url, other), question)[0]["x-gateway-cache"] == "miss"
    assert ask(sdk_for(first.url, key), question)[0]["x-gateway-cache"] == "hit"
    unknown = first.admin("POST", "/admin/cache/clear", json={"tenant": "no-such-tenant"})
    assert unknown.status_code == 404, unknown.text
