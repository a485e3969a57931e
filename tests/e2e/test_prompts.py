"""A prompt's life as an operator and a developer live it, on two `llm-gateway serve`
replicas sharing PostgreSQL and Redis: the CLI (its own process, same database) creates the
prompt from a YAML file and labels it `production`; the OpenAI SDK calls it through
/v1/responses with variables and the fake upstream receives the rendered text; a version 2
is added; the label is moved through the admin API of replica A, and the next request on
replica B renders version 2 within a second -- with a 30 s prompt cache, so only the
published change can explain it. Then cost per version from `llm-gateway usage --group-by
prompt,version`, and the CLI's list, show and diff, with the audit rows naming the actor."""

from __future__ import annotations

import getpass
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI
from openai.types.responses import ResponsePromptParam

from tests.conftest import unique
from tests.fakes.openai_upstream import FakeOpenAI, FakeOpenAIServer
from tests.integration.tenancy.support import GatewayProcess, gateway_env, run_cli

pytestmark = pytest.mark.slow

CATALOG = """
providers:
  upstream: {{type: openai, base_url: "{url}", api_key: sk-upstream-secret}}
models:
  gpt-4o-mini:
    price: {{input: 0.15, output: 0.60}}
    deployments: [{{provider: upstream, upstream: gpt-4o-mini}}]
tiers:
  pro: {{rpm: 100000}}
cache: {{mode: "off"}}
"""

V1 = """\
model: gpt-4o-mini
instructions: You triage support tickets for {{product}}.
input: "Ticket: {{ticket}}"
params: {temperature: 0.2}
"""
V2 = """\
model: gpt-4o-mini
instructions: You triage support tickets for {{product}}. Answer with a priority from 1 to 4.
input: "Ticket: {{ticket}}"
params: {temperature: 0.2}
"""
PROPAGATION_BOUND = 1.0      # seconds: what the README promises for a label move


@pytest.fixture
def upstream_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAIServer() as fake:
        yield fake


def system_text(fake: FakeOpenAI) -> str:
    text: str = fake.requests[-1].body["messages"][0]["content"]
    return text


def test_cli_prompt_labelled_called_and_relabelled_across_replicas(
        postgres_url: str, redis_url: str, tmp_path: Path, upstream_fake: FakeOpenAI) -> None:
    (tmp_path / "gateway.yaml").write_text(CATALOG.format(url=upstream_fake.url))
    env = gateway_env(postgres_url, tmp_path, redis_url=redis_url, prompt_cache_ttl_seconds="30",
                      usage_stream_key=f"gw:usage:test:{unique()}")
    (tmp_path / "v1.yaml").write_text(V1)
    (tmp_path / "v2.yaml").write_text(V2)
    tenant = unique("pr")
    with GatewayProcess(env, tmp_path) as first, GatewayProcess(env, tmp_path) as second:
        assert first.admin("POST", "/admin/tenants", json={"name": tenant, "tier": "pro",
                                                           "models": ["*"]}).status_code == 201
        key = first.admin("POST", f"/admin/tenants/{tenant}/keys", json={}).json()["key"]
        owner = ["--tenant", tenant]
        created = json.loads(run_cli(["prompts", "create", "support-triage", *owner, "--file", "v1.yaml",
                                      "--description", "first-line triage"], env, tmp_path).stdout)
        assert created["latest_version"] == 1
        run_cli(["prompts", "label", "support-triage", "production", "1", *owner], env, tmp_path)

        sdks = [OpenAI(base_url=g.url + "/v1", api_key=key, max_retries=0, timeout=30) for g in (first, second)]
        prompt: ResponsePromptParam = {"id": "support-triage", "version": "production",
                                        "variables": {"product": "Acme Cloud", "ticket": "cannot log in"}}
        answer = sdks[1].responses.create(prompt=prompt)
        assert answer.output_text == "echo: Ticket: cannot log in"
        seen = upstream_fake.requests[-1].body
        assert seen["messages"] == [{"role": "system", "content": "You triage support tickets for Acme Cloud."},
                                    {"role": "user", "content": "Ticket: cannot log in"}]
        assert seen["temperature"] == 0.2 and seen["model"] == "gpt-4o-mini"

        out = run_cli(["prompts", "version", "support-triage", *owner, "--file", "v2.yaml"], env, tmp_path).stdout
        assert "version 2 created" in out
        sdks[1].responses.create(prompt=prompt)
        assert system_text(upstream_fake) == "You triage support tickets for Acme Cloud."   # the label stayed

        moved = first.admin("PUT", f"/admin/prompts/support-triage/labels/production?tenant={tenant}",
                            json={"version": 2})
        assert moved.status_code == 200 and moved.json()["previous"] == 1, moved.text
        started = time.monotonic()
        while True:       # polled only up to the documented bound
            sdks[1].responses.create(prompt=prompt)
            elapsed = time.monotonic() - started
            if system_text(upstream_fake).endswith("priority from 1 to 4.") or elapsed > PROPAGATION_BOUND:
                break
            time.sleep(0.01)
        print(f"\nlabel move reached the other replica in {elapsed * 1000:.1f} ms")
        assert system_text(upstream_fake).endswith("Answer with a priority from 1 to 4."), elapsed
        sdks[0].responses.create(prompt=prompt)
        assert system_text(upstream_fake).endswith("priority from 1 to 4.")

        # Cost per version: version 1 answered two requests; version 2 at least two.
        deadline = time.monotonic() + 20
        while True:
            report = json.loads(run_cli(["usage", "--tenant", tenant, "--group-by", "prompt,version",
                                         "--format", "json"], env, tmp_path).stdout)
            if report["totals"]["requests"] >= 5 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        rows = {(r["prompt"], r["version"]): r for r in report["rows"]}
        assert set(rows) == {("support-triage", "1"), ("support-triage", "2")}, report
        assert rows[("support-triage", "1")]["requests"] == 2
        assert rows[("support-triage", "2")]["requests"] == report["totals"]["requests"] - 2
        assert all(r["validation_failures"] == 0 and r["cost_usd"] != "0.00" for r in report["rows"])

    listing = json.loads(run_cli(["prompts", "list", *owner, "--format", "json"], env, tmp_path).stdout)
    assert [(p["id"], p["latest_version"], p["labels"]) for p in listing] == [
        ("support-triage", 2, {"production": 2})]
    table = run_cli(["prompts", "list", *owner], env, tmp_path).stdout
    assert "support-triage" in table and "production=2" in table
    shown = json.loads(run_cli(["prompts", "show", "support-triage", *owner], env, tmp_path).stdout)
    assert shown["description"] == "first-line triage" and [v["version"] for v in shown["versions"]] == [1, 2]
    content = json.loads(run_cli(["prompts", "show", "support-triage", *owner, "--version", "1"],
                                 env, tmp_path).stdout)["content"]
    assert content["messages"][0]["content"] == "You triage support tickets for {{product}}."
    diff = run_cli(["prompts", "diff", "support-triage", "1", "production", *owner], env, tmp_path).stdout
    assert diff.startswith("--- support-triage@1\n+++ support-triage@2\n")
    assert "+  content: You triage support tickets for {{product}}. Answer with a priority from 1 to 4.\n" in diff

    bad = run_cli(["prompts", "label", "support-triage", "production", "9", *owner], env, tmp_path, check=False)
    assert bad.returncode == 1 and "no version 9" in bad.stderr
    audit = [json.loads(line) for line in run_cli(["audit", "--target", f"prompt:{tenant}/support-triage"],
                                                  env, tmp_path).stdout.splitlines()]
    actor = f"cli:{getpass.getuser()}"
    assert [(row["action"], row["actor"]) for row in reversed(audit)] == [
        ("prompt.create", actor), ("prompt.label", actor), ("prompt.version", actor), ("prompt.label", "admin-api")]
