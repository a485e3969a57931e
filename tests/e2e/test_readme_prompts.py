"""The README's "Prompts" story run as a new user would: its blocks copied from the README
(not retyped), against a real `llm-gateway serve` on the built-in catalog -- the CLI creates
and labels the prompt, the OpenAI SDK calls it both ways, version 2 is added, diffed and
shipped by moving the label through the admin API, and the cost per version is reported.
The sample version file in the README passes the registry's checks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from gateway.prompts.content import check_content
from tests.e2e.test_readme_examples import README, built_in_catalog_env
from tests.integration.tenancy.support import ADMIN_KEY, LLM_GATEWAY, GatewayProcess


def prompt_blocks() -> list[tuple[str, str]]:
    """(language, text) of every fenced block from "### Prompts" to the next (sub)section."""
    text = README.read_text()
    start = text.index("### Prompts")
    end = min(text.index("\n## ", start), text.index("\n### ", start))
    return re.findall(r"```(\w+)\n(.*?)```", text[start:end], re.S)


def test_the_sample_version_file_is_a_valid_version() -> None:
    sample = next(body for language, body in prompt_blocks() if language == "yaml")
    checked = check_content(yaml.safe_load(sample))
    assert checked["validation"] == "retry" and checked["variables"]["ticket"] == {"type": "string"}


def test_the_prompts_story_runs_as_written(sqlite_url: str, tmp_path: Path) -> None:
    blocks = [(language, body) for language, body in prompt_blocks() if language in ("bash", "python")]
    assert [language for language, _ in blocks] == ["bash", "python", "bash"]
    env = built_in_catalog_env(sqlite_url, tmp_path)
    env["PATH"] = f"{Path(LLM_GATEWAY).parent}{os.pathsep}{env.get('PATH', '')}"
    with GatewayProcess(env, tmp_path) as gateway:
        assert gateway.admin("POST", "/admin/tenants", json={"name": "demo", "models": ["*"]}).status_code == 201
        key = gateway.admin("POST", "/admin/tenants/demo/keys", json={}).json()["key"]

        def run(language: str, body: str) -> str:
            script = body.replace("http://127.0.0.1:8080", gateway.url)
            command = [sys.executable, "-c", script] if language == "python" else ["bash", "-euo", "pipefail",
                                                                                  "-c", script]
            done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                                  env={**env, "KEY": key, "GATEWAY_ADMIN_KEY": ADMIN_KEY})
            assert done.returncode == 0, done.stdout + done.stderr
            return done.stdout

        created = run(*blocks[0])
        assert '"id": "support-triage"' in created and "production -> version 1" in created
        assert run(*blocks[1]).splitlines() == ["Ticket: cannot log in", "Reply in French."]
        shipped = run(*blocks[2])
    assert "version 2 created" in shipped
    assert "+  content: You triage support tickets for {{product}}. Answer with a priority from 1 to 4." in shipped
    assert '"previous":1' in shipped and "production=2" in shipped
    report = shipped[shipped.index("usage from"):]
    rows = [line.split() for line in report.splitlines() if line.startswith("support-triage ")]
    assert [row[:3] for row in rows] == [["support-triage", "1", "2"]], shipped     # two requests on version 1
    assert report.splitlines()[1].split()[-1] == "validation_failures"
