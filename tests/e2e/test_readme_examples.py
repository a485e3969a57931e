"""The README's examples, run as a new user would run them: copied from the README itself
(not retyped here), against a real `llm-gateway serve` on the built-in catalog. A README
edit that breaks an example breaks this test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import unique
from tests.integration.tenancy.support import ADMIN_KEY, GatewayProcess, gateway_env

README = Path(__file__).resolve().parents[2] / "README.md"


def block_after(heading: str, language: str) -> str:
    """The first fenced block of `language` after `heading` in the README."""
    text = README.read_text()
    start = text.index(heading)
    found = re.search(rf"```{language}\n(.*?)```", text[start:], re.S)
    assert found, f"no {language} block after {heading!r}"
    return found.group(1)


def built_in_catalog_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = gateway_env(database_url, tmp_path)
    del env["GATEWAY_CONFIG"]                       # the built-in catalog, as in the quickstart
    return env


def test_the_quickstart_sdk_snippet_runs_as_written(sqlite_url: str, tmp_path: Path) -> None:
    snippet = block_after("### OpenAI SDK", "python")
    env = built_in_catalog_env(sqlite_url, tmp_path)
    with GatewayProcess(env, tmp_path) as gateway:
        tenant = unique("readme")
        assert gateway.admin("POST", "/admin/tenants", json={"name": tenant, "models": ["*"]}).status_code == 201
        key = gateway.admin("POST", f"/admin/tenants/{tenant}/keys", json={}).json()["key"]
        script = snippet.replace("http://127.0.0.1:8080", gateway.url)
        done = subprocess.run([sys.executable, "-c", script], env={**os.environ, "KEY": key},
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["hi", "hi"]        # the plain reply, then the streamed one


def test_the_admin_api_examples_run_as_written(sqlite_url: str, tmp_path: Path) -> None:
    script = block_after("### Admin API by example", "bash")
    env = built_in_catalog_env(sqlite_url, tmp_path)
    with GatewayProcess(env, tmp_path) as gateway:
        script = script.replace("A=http://127.0.0.1:8080", f"A={gateway.url}").replace("curl -s ", "curl -sSf ")
        key_id = ("$(curl -sSf $A/admin/tenants/search/keys -H \"$ADMIN\" | "
                  "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"data\"][0][\"id\"])')")
        script = script.replace("KEY_ID", key_id)
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "GATEWAY_ADMIN_KEY": ADMIN_KEY})
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"effective_limits":' in done.stdout and '"key":"sk-search-' in done.stdout


def test_the_response_validation_example_runs_as_written(sqlite_url: str, tmp_path: Path) -> None:
    snippet = block_after("### Response validation", "python")
    env = built_in_catalog_env(sqlite_url, tmp_path)
    with GatewayProcess(env, tmp_path) as gateway:
        tenant = unique("readme")     # as `tenants update demo --validation-mode reject` leaves demo
        created = gateway.admin("POST", "/admin/tenants", json={"name": tenant, "models": ["*"],
                                                                "validation_mode": "reject"})
        assert created.status_code == 201, created.text
        key = gateway.admin("POST", f"/admin/tenants/{tenant}/keys", json={}).json()["key"]
        script = snippet.replace("http://127.0.0.1:8080", gateway.url)
        done = subprocess.run([sys.executable, "-c", script], env={**os.environ, "KEY": key},
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["passed", "502 response_validation_failed"]
    assert "the answer is not JSON (Expecting value: line 1 column 1 (char 0))" in lines[2]
