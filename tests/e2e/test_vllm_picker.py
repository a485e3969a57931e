"""A vLLM pool behind the gateway, seen with the OpenAI SDK and by an operator: prefix
affinity gives cached tokens, /admin/providers shows every replica's figures and score,
/readyz the live replicas, /metrics the picker's decisions; a replica killed mid-run costs
no request that had not started streaming."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import make_settings
from tests.fakes.vllm_replica import ReplicaServer, ReplicaSpec, SimulatedReplica
from tests.support.gateway import RunningGateway, running_gateway, write_catalog
from tests.support.vllm_pool import pool_catalog

SYSTEM = "You answer questions about the attached contract. " + "Clause: the party of the first part. " * 150


@pytest.fixture
def sims() -> Iterator[list[tuple[SimulatedReplica, ReplicaServer]]]:
    servers = [ReplicaServer(ReplicaSpec(seed=i, max_running=2, decode_seconds_per_token=0.01), name=f"r{i}")
               for i in range(3)]
    started = [(server.__enter__(), server) for server in servers]
    try:
        yield started
    finally:
        for server in servers:
            server.__exit__(None, None, None)


@pytest.fixture
def gateway(sims: list[tuple[SimulatedReplica, ReplicaServer]], sqlite_url: str,
            tmp_path: Path) -> Iterator[RunningGateway]:
    config = write_catalog(tmp_path, pool_catalog([sim.url for sim, _ in sims]))
    with running_gateway(make_settings(sqlite_url, config)) as gw:
        deadline = time.monotonic() + 10
        while any(r["metrics"] != "fresh" for r in gw.admin("GET", "/admin/providers").json()["pools"][0]["replicas"]):
            assert time.monotonic() < deadline, "replicas never scraped"
            time.sleep(0.05)
        yield gw


def client(gw: RunningGateway, key: str) -> OpenAI:
    return OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=30)


def ask(sdk: OpenAI, turn: str, **extra: object) -> openai.types.chat.ChatCompletion:
    answer: openai.types.chat.ChatCompletion = sdk.chat.completions.create(  # type: ignore[call-overload]
        model="sim-model", max_tokens=4, messages=[
            {"role": "system", "content": SYSTEM}, {"role": "user", "content": turn}], **extra)
    return answer


def test_a_conversation_sticks_to_the_replica_that_has_its_prefix(
        gateway: RunningGateway, sims: list[tuple[SimulatedReplica, ReplicaServer]]) -> None:
    sdk = client(gateway, gateway.create_key())
    first = ask(sdk, "What does clause one say?")
    assert first.usage is not None and first.usage.prompt_tokens_details is not None
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    for turn in range(4):
        later = ask(sdk, f"And clause {turn + 2}?")
        assert later.usage is not None and later.usage.prompt_tokens_details is not None
        assert (later.usage.prompt_tokens_details.cached_tokens or 0) >= 0.9 * later.usage.prompt_tokens
    stream = sdk.chat.completions.create(model="sim-model", max_tokens=6, stream=True, messages=[
        {"role": "system", "content": SYSTEM}, {"role": "user", "content": "stream it"}])
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices).strip()
    # A replica books a streamed request as served after its last event went out, which can be
    # a moment after the client read it: wait for the sixth, then every one on one replica.
    deadline = time.monotonic() + 5
    while sum(len(sim.served) for sim, _ in sims) < 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sorted(len(sim.served) for sim, _ in sims) == [0, 0, 6]


def test_operators_see_replica_figures_scores_live_count_and_decisions(gateway: RunningGateway) -> None:
    sdk = client(gateway, gateway.create_key())
    for i in range(3):
        ask(sdk, f"question {i}")
    pools = gateway.admin("GET", "/admin/providers").json()["pools"]
    assert [p["provider"] for p in pools] == ["pool"] and pools[0]["picker"] == "load-aware"
    replicas = pools[0]["replicas"]
    assert len(replicas) == 3
    for row in replicas:
        assert row["metrics"] == "fresh" and row["breaker"] == "closed"
        assert {"waiting", "running", "kv_cache_usage", "block_size", "score", "in_flight", "picks"} <= set(row)
        assert row["block_size"] == 16
    assert sum(row["picks"] for row in replicas) == 3
    assert any(row["score"] is not None for row in replicas)

    ready = httpx.get(gateway.url + "/readyz", timeout=10).json()
    assert ready["pools"] == {"pool": "3/3 replicas live"}

    metrics = httpx.get(gateway.url + "/metrics", timeout=10).text
    decisions = [line for line in metrics.splitlines() if line.startswith("gateway_picker_decisions_total{")]
    assert any('provider="pool"' in line and 'reason="prefix"' in line for line in decisions), decisions
    assert any('reason="load"' in line for line in decisions), decisions


def test_a_replica_killed_mid_run_fails_no_request_that_had_not_started_streaming(
        gateway: RunningGateway, sims: list[tuple[SimulatedReplica, ReplicaServer]]) -> None:
    key = gateway.create_key()
    errors: list[str] = []
    done: list[int] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        sdk = client(gateway, key)
        started = False
        try:
            stream = sdk.chat.completions.create(model="sim-model", max_tokens=15, stream=True, messages=[
                {"role": "user", "content": f"independent question number {i}"}])
            for _chunk in stream:
                started = True
            with lock:
                done.append(i)
        except openai.APIError as exc:
            with lock:
                errors.append(f"{i}: started={started}: {exc}")

    threads = []
    for i in range(30):
        thread = threading.Thread(target=one, args=(i,))
        thread.start()
        threads.append(thread)
        if i == 10:
            sims[0][1].kill()
        time.sleep(0.02)
    for thread in threads:
        thread.join(60)
    # A stream the victim had started may break; nothing else may fail.
    assert all("started=True" in e for e in errors), errors
    assert len(done) + len(errors) == 30
    rows = {r["url"]: r for r in gateway.admin("GET", "/admin/providers").json()["pools"][0]["replicas"]}
    victim = rows[sims[0][0].url]
    assert victim["picks"] > 0                          # it had work when it died
    assert victim["scrape_error"] is not None or victim["breaker"] == "open"


def test_a_saturated_pool_with_policy_reject_answers_503_with_retry_after(sqlite_url: str, tmp_path: Path) -> None:
    spec = ReplicaSpec(max_running=1, decode_seconds_per_token=0.05)
    with ReplicaServer(spec, name="busy") as sim:
        config = write_catalog(tmp_path, pool_catalog(
            [sim.url], pool_options="saturation: {queue_depth: 1, policy: reject, retry_after_seconds: 1}"))
        with running_gateway(make_settings(sqlite_url, config)) as gw:
            body = {"model": "sim-model", "max_tokens": 40, "messages": [{"role": "user", "content": "long"}]}
            direct = [threading.Thread(target=httpx.post, args=(sim.url + "/v1/chat/completions",),
                                       kwargs={"json": body, "timeout": 30}) for _ in range(2)]
            for thread in direct:            # one runs, one waits on the replica: saturated
                thread.start()
            deadline = time.monotonic() + 10
            while gw.admin("GET", "/admin/providers").json()["pools"][0]["replicas"][0]["waiting"] != 1:
                assert time.monotonic() < deadline, "the replica never showed a waiting request"
                time.sleep(0.05)
            with pytest.raises(openai.APIStatusError) as caught:
                ask(client(gw, gw.create_key()), "no room")
            assert caught.value.status_code == 503
            assert int(caught.value.response.headers["retry-after"]) >= 1
            metrics = httpx.get(gw.url + "/metrics", timeout=10).text
            assert 'gateway_picker_decisions_total{provider="pool",reason="rejected",replica="none"}' in metrics
            for thread in direct:
                thread.join(30)
