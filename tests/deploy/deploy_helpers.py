"""Helpers of the deployment tests: where the validation tools are and how to render
the chart.

The tools (deploy/requirements-validate.txt) live in venvs of their own, made by
deploy/install-validate-tools.sh: <repo>/.venv-deploy-tools, or $DEPLOY_TOOLS_DIR.
A test whose tool is absent is skipped with the reason, and fails when CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "deploy" / "helm" / "llm-gateway"
HELM_DRIVER = Path(__file__).with_name("helm_driver.py")
RELEASE = "llm-gateway"
NAMESPACE = "llm-gateway"

# RUNME.py's package (deploy/runme) is importable by the tests, as RUNME.py imports it.
if str(REPO_ROOT / "deploy") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "deploy"))

# Tool -> (venv group, executable name).
TOOLS = {
    "helm-python": ("tools", "python"),
    "kubernetes-validate": ("tools", "kubernetes-validate"),
    "hadolint": ("tools", "hadolint"),
    "terraform": ("tools", "terraform"),
    "hcl2-python": ("tools", "python"),
    "checkov": ("checkov", "checkov"),
}


def tools_dir() -> Path:
    return Path(os.environ.get("DEPLOY_TOOLS_DIR", REPO_ROOT / ".venv-deploy-tools"))


def missing_tool(reason: str) -> NoReturn:
    """Skip, or fail under CI=true: CI must have run deploy/install-validate-tools.sh."""
    message = f"{reason}; run deploy/install-validate-tools.sh"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def find_tool(name: str) -> str:
    group, executable = TOOLS[name]
    candidate = tools_dir() / group / "bin" / executable
    if candidate.exists():
        return str(candidate)
    if executable != "python":
        on_path = shutil.which(executable)
        if on_path:
            return on_path
    missing_tool(f"{name} not found in {tools_dir() / group} or on PATH")


def run_tool(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, **kwargs)


# ---- Helm (through helm-python-sdk, driven by helm_driver.py in the tools venv) ----


def helm(
    command: str,
    chart: Path,
    values_files: list[Path],
    overrides: dict[str, Any] | None = None,
    *,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
) -> Any:
    python = find_tool("helm-python")
    request = {
        "command": command,
        "chart": str(chart),
        "values_files": [str(p) for p in values_files],
        "overrides": overrides or {},
        "release": release,
        "namespace": namespace,
    }
    done = run_tool([python, str(HELM_DRIVER)], input=json.dumps(request))
    if done.returncode == 3:
        missing_tool(f"helm-python-sdk not importable by {python}: {done.stderr.strip()}")
    assert done.returncode == 0, f"helm {command} failed:\n{done.stderr}"
    return json.loads(done.stdout)


def render(
    chart: Path,
    values_files: list[Path],
    overrides: dict[str, Any] | None = None,
    *,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
) -> dict[str, str]:
    """Template path -> rendered text (hooks included, NOTES.txt excluded)."""
    manifests: dict[str, str] = helm("render", chart, values_files, overrides, release=release, namespace=namespace)
    return {path: text for path, text in manifests.items() if not path.endswith("NOTES.txt")}


def documents(manifests: dict[str, str]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for text in manifests.values():
        docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


VALUES_SETS = {
    "default": [CHART_DIR / "values.yaml"],
    "prod": [CHART_DIR / "values.yaml", CHART_DIR / "values-prod.yaml"],
}


# ---- Kubernetes schema validation (offline) and structural checks of CRD kinds ----

KUBERNETES_VERSION = "1.34.0"  # deploy/terraform kubernetes_version

# Custom resources: kubernetes-validate has no schema for them, so each is checked for
# the fields its controller requires (dotted paths; "[]" means every list item).
CRD_REQUIRED_FIELDS: dict[tuple[str, str], list[str]] = {
    ("external-secrets.io/v1", "ExternalSecret"): [
        "spec.secretStoreRef.kind",
        "spec.secretStoreRef.name",
        "spec.target.name",
        "spec.data[].secretKey",
        "spec.data[].remoteRef.key",
    ],
    ("external-secrets.io/v1", "ClusterSecretStore"): [
        "spec.provider.aws.service",
        "spec.provider.aws.region",
    ],
    ("monitoring.coreos.com/v1", "ServiceMonitor"): [
        "spec.selector.matchLabels",
        "spec.endpoints[].port",
        "spec.endpoints[].path",
    ],
    ("argoproj.io/v1alpha1", "Application"): [
        "spec.project",
        "spec.destination.server",
        "spec.destination.namespace",
        "spec.source.repoURL",
        "spec.source.targetRevision",
    ],
    ("kyverno.io/v1", "ClusterPolicy"): [
        "spec.rules[].name",
        "spec.rules[].match.any",
        "spec.rules[].exclude.any",
        "spec.rules[].validate.failureAction",
        "spec.rules[].validate.message",
    ],
    ("karpenter.sh/v1", "NodePool"): [
        "spec.template.spec.nodeClassRef.name",
        "spec.template.spec.requirements",
        "spec.limits.cpu",
    ],
    ("gateway.networking.k8s.io/v1", "GatewayClass"): ["spec.controllerName"],
    ("gateway.networking.k8s.io/v1", "Gateway"): [
        "spec.gatewayClassName",
        "spec.listeners[].name",
        "spec.listeners[].protocol",
        "spec.listeners[].port",
    ],
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): [
        "spec.parentRefs[].name",
        "spec.hostnames",
        "spec.rules[].backendRefs[].name",
        "spec.rules[].backendRefs[].port",
    ],
    # Required fields of the AWS Load Balancer Controller's CRDs (gateway.k8s.aws/v1).
    ("gateway.k8s.aws/v1", "LoadBalancerConfiguration"): ["spec.listenerConfigurations[].protocolPort"],
    ("gateway.k8s.aws/v1", "TargetGroupConfiguration"): ["spec.targetReference.name"],
    ("karpenter.k8s.aws/v1", "EC2NodeClass"): [
        "spec.role",
        "spec.amiSelectorTerms",
        "spec.subnetSelectorTerms",
        "spec.securityGroupSelectorTerms",
    ],
}


def missing_fields(doc: dict[str, Any], paths: list[str]) -> list[str]:
    """Dotted paths (with [] for every list item) that are absent or empty in doc."""

    def walk(node: Any, parts: list[str]) -> bool:
        if not parts:
            return node not in (None, "", [], {})
        head, rest = parts[0], parts[1:]
        is_list = head.endswith("[]")
        key = head[:-2] if is_list else head
        if not isinstance(node, dict) or key not in node:
            return False
        child = node[key]
        if is_list:
            return isinstance(child, list) and bool(child) and all(walk(item, rest) for item in child)
        return walk(child, rest)

    return [path for path in paths if not walk(doc, path.split("."))]


def check_kubernetes(docs: list[dict[str, Any]], workdir: Path) -> list[str]:
    """Problems found: schema errors of built-in kinds, missing fields of CRD kinds,
    unknown kinds. Empty means every document is valid."""
    problems: list[str] = []
    builtin = []
    for doc in docs:
        key = (doc.get("apiVersion", ""), doc.get("kind", ""))
        name = doc.get("metadata", {}).get("name", "?")
        if key in CRD_REQUIRED_FIELDS:
            problems += [f"{key[1]}/{name}: missing {p}" for p in missing_fields(doc, CRD_REQUIRED_FIELDS[key])]
        else:
            builtin.append(doc)
    if not builtin:
        return problems
    workdir.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    for index, doc in enumerate(builtin):
        written = workdir / f"{index:03d}-{doc['kind']}.yaml".lower()
        written.write_text(yaml.safe_dump(doc, sort_keys=False))
        files.append(str(written))
    validator = find_tool("kubernetes-validate")
    done = run_tool([validator, "--strict", "-k", KUBERNETES_VERSION, *files])
    lines = (done.stdout + done.stderr).splitlines()
    for path, doc in zip(files, builtin, strict=True):
        passed = [line for line in lines if line.startswith(f"INFO {path} passed")]
        if not passed:
            report = [line for line in lines if path in line] or [f"exit {done.returncode}"]
            problems.append(f"{doc['kind']}/{doc['metadata']['name']}: " + " | ".join(report))
    return problems
