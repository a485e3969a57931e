"""Cost correctness end to end: a scripted mix of models, features and token counts through
the gateway; every record's cost equals its tokens times the price exactly, and the report
totals -- library, CLI and admin API, every format -- equal the sum of the records."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import cycle
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.usage.reports import UsageQuery, parse_time, run_report
from tests.conftest import make_settings, unique
from tests.fakes.openai_upstream import FakeOpenAIServer
from tests.integration.usage.conftest import gateway_records
from tests.support.gateway import RunningGateway, running_gateway, write_catalog

# USD per 1M tokens, as the catalog below says; the test computes costs from these itself.
PRICES = {"gpt-4o-mini": (Decimal("0.15"), Decimal("0.60")),
          "big-model": (Decimal("2.5"), Decimal("10")),
          "mock-priced": (Decimal("0.0375"), Decimal("1.25"))}
REQUESTS = 60


def catalog(primary: str, secondary: str) -> str:
    return f"""
providers:
  primary:   {{type: openai, base_url: "{primary}", api_key: sk-upstream-a}}
  secondary: {{type: openai, base_url: "{secondary}", api_key: sk-upstream-b}}
  mock:      {{type: mock}}
models:
  gpt-4o-mini:
    price: {{input: 0.15, output: 0.60, cached_input: 0.075}}
    deployments: [{{provider: primary, upstream: gpt-4o-mini}}]
  big-model:
    price: {{input: 2.5, output: 10}}
    deployments: [{{provider: secondary, upstream: big-model-2025}}]
  mock-priced:
    price: {{input: 0.0375, output: 1.25}}
    deployments: [{{provider: mock, upstream: echo}}]
tiers:
  pro: {{rpm: 10000}}
guardrails:
  pii: {{mode: redact}}
cache: {{mode: "off"}}
"""


@dataclass
class Sent:
    request_id: str
    model: str
    feature: str | None
    prompt_tokens: int
    completion_tokens: int


@pytest.fixture
def gateway(database_url: str, tmp_path: Path) -> Iterator[RunningGateway]:
    with FakeOpenAIServer() as primary, FakeOpenAIServer() as secondary:
        config = write_catalog(tmp_path, catalog(primary.url, secondary.url))
        with running_gateway(make_settings(database_url, config)) as gw:
            yield gw


def send_script(gw: RunningGateway, key: str) -> list[Sent]:
    models, features = cycle(PRICES), cycle(["search", "chat", None, "search"])
    sent = []
    with httpx.Client(timeout=30) as client:
        for i in range(REQUESTS):
            model, feature = next(models), next(features)
            headers = {"Authorization": f"Bearer {key}"}
            body: dict[str, object] = {"model": model, "user": f"user-{i % 4}",
                                       "messages": [{"role": "user", "content": " ".join(["word"] * (1 + i * 7 % 23))}]}
            if feature is not None and i % 2:
                headers["x-gateway-feature"] = feature
            elif feature is not None:
                body["metadata"] = {"feature": feature}
            response = client.post(gw.url + "/v1/chat/completions", headers=headers, json=body)
            assert response.status_code == 200, response.text
            usage = response.json()["usage"]
            sent.append(Sent(response.headers["x-request-id"], model, feature, usage["prompt_tokens"],
                             usage["completion_tokens"]))
    return sent


def price_of(model: str, prompt: int, completion: int) -> Decimal:
    input_price, output_price = PRICES[model]
    return (prompt * input_price + completion * output_price) / 1_000_000


def test_costs_are_exact_and_reports_add_up(gateway: RunningGateway, tmp_path: Path) -> None:
    tenant = unique()
    key = gateway.create_key(name=tenant)
    sent = send_script(gateway, key)
    rows = {r.request_id: r for r in gateway_records(gateway, tenant, at_least=REQUESTS)}
    assert len(rows) == REQUESTS

    for s in sent:
        record = rows[s.request_id]
        assert (record.model, record.feature, record.status) == (s.model, s.feature, "ok")
        assert (record.prompt_tokens, record.completion_tokens) == (s.prompt_tokens, s.completion_tokens)
        assert record.cost_usd == price_of(s.model, s.prompt_tokens, s.completion_tokens), s
    assert len({r.end_user for r in rows.values()}) == 4
    assert {r.upstream_model for r in rows.values() if r.model == "big-model"} == {"big-model-2025"}

    total_cost = sum((r.cost_usd for r in rows.values()), Decimal(0))
    by_model: dict[str, Decimal] = {}
    for r in rows.values():
        by_model[r.model] = by_model.get(r.model, Decimal(0)) + r.cost_usd
    assert total_cost > 0 and len(by_model) == 3

    report = gateway.run(lambda: run_report(gateway.runtime.engine, UsageQuery(
        since=parse_time("1d", datetime.now(UTC)), tenant=tenant, group_by=("model",))))
    assert report.totals.cost_usd == total_cost
    assert report.totals.requests == REQUESTS
    assert report.totals.prompt_tokens == sum(s.prompt_tokens for s in sent)
    assert report.totals.completion_tokens == sum(s.completion_tokens for s in sent)
    assert {group[0]: totals.cost_usd for group, totals in report.rows} == by_model

    # An explicit range with partial days at both edges reads the records, not the rollup.
    exact = gateway.run(lambda: run_report(gateway.runtime.engine, UsageQuery(
        since=min(r.ts for r in rows.values()), until=max(r.ts for r in rows.values()) + timedelta(microseconds=1),
        tenant=tenant, group_by=("feature",))))
    assert exact.totals.cost_usd == total_cost and exact.totals.requests == REQUESTS
    assert {g[0] for g, _ in exact.rows} == {"search", "chat", None}

    cli = _cli_report(gateway, tenant, tmp_path)
    assert Decimal(cli["totals"]["cost_usd"]) == total_cost
    assert {row["model"]: Decimal(row["cost_usd"]) for row in cli["rows"]} == by_model

    api_csv = gateway.admin("GET", "/admin/usage", params={"tenant": tenant, "since": "1d",
                                                           "group_by": "tenant,feature,day", "format": "csv"})
    assert api_csv.status_code == 200 and api_csv.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(api_csv.text)))
    assert table[-1]["tenant"] == "TOTAL" and Decimal(table[-1]["cost_usd"]) == total_cost
    assert sum(Decimal(row["cost_usd"]) for row in table[:-1]) == total_cost
    assert {row["feature"] for row in table[:-1]} == {"search", "chat", "(none)"}

    api_json = gateway.admin("GET", "/admin/usage", params={"tenant": tenant, "model": "big-model"}).json()
    assert Decimal(api_json["totals"]["cost_usd"]) == by_model["big-model"]


def _cli_report(gw: RunningGateway, tenant: str, cwd: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_DATABASE_URL"] = gw.runtime.settings.database_url
    command = Path(sys.executable).parent / "llm-gateway"
    done = subprocess.run([str(command), "usage", "--tenant", tenant, "--since", "1d", "--group-by", "model",
                           "--format", "json"], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_admin_usage_api_refuses_bad_requests_in_openai_shape(gateway: RunningGateway) -> None:
    key = gateway.create_key()
    as_tenant = httpx.get(gateway.url + "/admin/usage", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert as_tenant.status_code == 401 and as_tenant.json()["error"]["type"]
    for params in ({"group_by": "colour"}, {"since": "yesterday-ish"}, {"format": "xml"},
                   {"since": "1d", "until": "2d"}):
        response = gateway.admin("GET", "/admin/usage", params=params)
        assert response.status_code == 400, params
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"


def test_the_table_format_answers_a_finance_question(gateway: RunningGateway) -> None:
    tenant = unique()
    key = gateway.create_key(name=tenant)
    send_script(gateway, key)
    gateway_records(gateway, tenant, at_least=REQUESTS)
    text = gateway.admin("GET", "/admin/usage", params={"tenant": tenant, "group_by": "tenant,feature,day",
                                                        "format": "table"}).text
    lines = text.splitlines()
    assert lines[0].startswith("usage from ") and lines[1].split()[:4] == ["tenant", "feature", "day", "requests"]
    assert lines[-1].startswith("TOTAL") and f" {REQUESTS} " in lines[-1]
