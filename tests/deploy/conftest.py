"""Fixtures of the deployment tests (helpers live in deploy_helpers.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.deploy_helpers import CHART_DIR, VALUES_SETS, documents, find_tool, render
from tests.deploy.runme_sandbox import fake_terraform_outputs

WIRED_TAG = "0.1.0-1a2b3c4d5e6f"


def wired_values() -> dict[str, Any]:
    """What RUNME.py `apps` adds on top of the value files (from Terraform outputs)."""
    import json

    from runme.wiring import PlatformOutputs, gateway_values  # deploy_helpers put deploy/ on sys.path

    outputs = PlatformOutputs.from_terraform_json(json.dumps(fake_terraform_outputs()))
    values: dict[str, Any] = gateway_values(outputs, WIRED_TAG)
    return values


@pytest.fixture(scope="session")
def tool() -> Callable[[str], str]:
    """tool(name) -> path of a validation tool; skips (or fails under CI) when absent."""
    return find_tool


@pytest.fixture(scope="session")
def rendered() -> Callable[[str], list[dict[str, Any]]]:
    """Rendered chart documents per values set, rendered once: "default" (values.yaml) and
    "prod" (values.yaml, values-prod.yaml and the wiring RUNME.py adds)."""
    cache: dict[str, list[dict[str, Any]]] = {}

    def get(values_set: str) -> list[dict[str, Any]]:
        if values_set not in cache:
            overrides = wired_values() if values_set == "prod" else {}
            cache[values_set] = documents(render(CHART_DIR, VALUES_SETS[values_set], overrides))
        return cache[values_set]

    return get


@pytest.fixture
def write_docs(tmp_path: Path) -> Callable[[list[dict[str, Any]]], Path]:
    """Write documents one per file (kind-name.yaml) into a fresh directory."""

    def write(docs: list[dict[str, Any]]) -> Path:
        out = tmp_path / "manifests"
        out.mkdir(exist_ok=True)
        for doc in docs:
            name = f"{doc['kind']}-{doc['metadata']['name']}.yaml".lower()
            (out / name).write_text(yaml.safe_dump(doc, sort_keys=False))
        return out

    return write
