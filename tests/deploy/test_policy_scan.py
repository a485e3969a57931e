"""Policy scans: checkov over the rendered chart, the Terraform and the Dockerfile,
and hadolint over the Dockerfile. Skipped checks are justified where they are made:
deploy/checkov/kubernetes.yaml and `#checkov:skip=` comments in deploy/terraform."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.deploy_helpers import REPO_ROOT, run_tool

Rendered = Callable[[str], list[dict[str, Any]]]
CHECKOV_K8S_CONFIG = REPO_ROOT / "deploy" / "checkov" / "kubernetes.yaml"


def checkov(tool: Callable[[str], str], *args: str) -> list[dict[str, Any]]:
    """Run checkov offline; return its per-framework JSON reports."""
    done = run_tool([tool("checkov"), "--output", "json", "--skip-download", "--quiet", *args])
    assert done.returncode in (0, 1), f"checkov crashed ({done.returncode}):\n{done.stderr[-2000:]}"
    report = json.loads(done.stdout or "[]")
    reports: list[dict[str, Any]] = report if isinstance(report, list) else [report]
    return reports


def failures(reports: list[dict[str, Any]]) -> list[str]:
    return [
        f"{check['check_id']} {check['resource']} ({check['file_path']})"
        for report in reports
        for check in report.get("results", {}).get("failed_checks", [])
    ]


def passed(reports: list[dict[str, Any]]) -> int:
    return sum(int(report.get("summary", {}).get("passed", 0)) for report in reports)


@pytest.mark.parametrize("values_set", ["default", "prod"])
def test_checkov_passes_on_rendered_chart(
    values_set: str, rendered: Rendered, write_docs: Callable[[list[dict[str, Any]]], Path], tool: Any
) -> None:
    directory = write_docs(rendered(values_set))
    reports = checkov(tool, "--directory", str(directory), "--config-file", str(CHECKOV_K8S_CONFIG))
    assert failures(reports) == []
    assert passed(reports) > 50  # it really scanned the workloads


def test_checkov_passes_on_terraform(tool: Any) -> None:
    reports = checkov(tool, "--directory", str(REPO_ROOT / "deploy" / "terraform"), "--framework", "terraform")
    assert failures(reports) == []
    assert passed(reports) > 50


def test_checkov_passes_on_dockerfile(tool: Any) -> None:
    reports = checkov(tool, "--file", str(REPO_ROOT / "Dockerfile"), "--framework", "dockerfile")
    assert failures(reports) == []
    assert passed(reports) > 10


def test_checkov_reports_a_violation(
    rendered: Rendered, write_docs: Callable[[list[dict[str, Any]]], Path], tool: Any
) -> None:
    deployment = json.loads(json.dumps(next(d for d in rendered("prod") if d["kind"] == "Deployment")))
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    reports = checkov(tool, "--directory", str(write_docs([deployment])), "--config-file", str(CHECKOV_K8S_CONFIG))
    assert any(f.startswith("CKV_K8S_16 ") for f in failures(reports))


def test_every_terraform_skip_is_justified() -> None:
    for path in (REPO_ROOT / "deploy" / "terraform").rglob("*.tf"):
        for line in path.read_text().splitlines():
            if "checkov:skip=" in line:
                assert re.search(r"checkov:skip=CKV\w+:\S.{20,}", line), f"{path.name}: unjustified {line.strip()}"


def test_every_kubernetes_skip_is_justified() -> None:
    lines = CHECKOV_K8S_CONFIG.read_text().splitlines()
    for index, line in enumerate(lines):
        if re.match(r"\s+- CKV", line):
            assert lines[index - 1].strip().startswith("#"), f"no justification above {line.strip()}"


def test_hadolint_passes_on_dockerfile(tool: Any) -> None:
    done = run_tool([tool("hadolint"), "--failure-threshold", "info", str(REPO_ROOT / "Dockerfile")])
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_flags_a_bad_dockerfile(tool: Any, tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nRUN cd /tmp && ls\n")
    done = run_tool([tool("hadolint"), str(bad)])
    assert done.returncode != 0 and "DL3007" in done.stdout
