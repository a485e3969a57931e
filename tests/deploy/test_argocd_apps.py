"""The Argo CD app-of-apps: the root Application RUNME.py writes renders
deploy/argocd/platform into one child Application per platform component, in a
sensible sync order; the policy and cluster-config charts render valid objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from runme.layout import Layout
from runme.wiring import PlatformOutputs, root_application

from tests.deploy.deploy_helpers import REPO_ROOT, check_kubernetes, documents, find, render

ARGOCD = REPO_ROOT / "deploy" / "argocd"
SYSTEM_NAMESPACES = {"kube-system", "kube-public", "kube-node-lease", "argocd", "kyverno"}


@pytest.fixture(scope="module")
def root_app() -> dict[str, Any]:
    outputs = PlatformOutputs.placeholders()
    app: dict[str, Any] = root_application(Layout(root=REPO_ROOT, env="prod"), outputs, revision="main")
    return app


@pytest.fixture(scope="module")
def children(root_app: dict[str, Any]) -> list[dict[str, Any]]:
    """The child Applications, rendered the way Argo CD renders the root."""
    source = root_app["spec"]["source"]
    chart = REPO_ROOT / source["path"]
    return documents(render(chart, [chart / "values.yaml"], source["helm"]["valuesObject"]))


def wave(app: dict[str, Any]) -> int:
    return int(app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])


def test_root_application_points_at_the_platform_chart(root_app: dict[str, Any], tmp_path: Path) -> None:
    assert check_kubernetes([root_app], tmp_path) == []
    assert root_app["spec"]["source"]["path"] == "deploy/argocd/platform"
    assert (ARGOCD / "platform" / "Chart.yaml").is_file()


def test_children_cover_the_platform(children: list[dict[str, Any]], tmp_path: Path) -> None:
    assert check_kubernetes(children, tmp_path) == []
    names = {app["metadata"]["name"] for app in children}
    assert names == {
        "llm-gateway",
        "external-secrets",
        "kube-prometheus-stack",
        "loki",
        "tempo",
        "opentelemetry-collector",
        "kyverno",
        "platform-policies",
        "karpenter",
        "cluster-config",
        "metrics-server",
        "aws-load-balancer-controller",
    }
    for app in children:
        assert app["kind"] == "Application" and app["metadata"]["namespace"] == "argocd"
        source = app["spec"]["source"]
        assert ("chart" in source) != ("path" in source), app["metadata"]["name"]
        if "path" in source:
            assert (REPO_ROOT / source["path"] / "Chart.yaml").is_file(), source["path"]
        else:
            assert source["targetRevision"][0].isdigit(), "third-party charts are pinned"


def test_sync_order(children: list[dict[str, Any]]) -> None:
    by_name = {app["metadata"]["name"]: app for app in children}
    gateway = wave(by_name["llm-gateway"])
    # CRDs (ExternalSecret, ServiceMonitor, ClusterPolicy) exist before the gateway syncs.
    for dependency in [
        "external-secrets",
        "kube-prometheus-stack",
        "kyverno",
        "cluster-config",
        "metrics-server",
        "aws-load-balancer-controller",
    ]:
        assert wave(by_name[dependency]) < gateway
    assert wave(by_name["kyverno"]) < wave(by_name["platform-policies"])
    assert wave(by_name["external-secrets"]) < wave(by_name["cluster-config"])


def test_gateway_child_gets_the_wiring(children: list[dict[str, Any]], root_app: dict[str, Any]) -> None:
    gateway = find(children, "Application", "llm-gateway")
    helm = gateway["spec"]["source"]["helm"]
    assert gateway["spec"]["source"]["path"] == "deploy/helm/llm-gateway"
    assert helm["valueFiles"] == ["values.yaml", "values-prod.yaml"]
    assert helm["valuesObject"] == root_app["spec"]["source"]["helm"]["valuesObject"]["gateway"]["values"]
    assert gateway["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


def test_observability_provisions_the_dashboard(children: list[dict[str, Any]]) -> None:
    stack = find(children, "Application", "kube-prometheus-stack")["spec"]["source"]["helm"]["valuesObject"]
    sidecar = stack["grafana"]["sidecar"]["dashboards"]
    gateway_values = (REPO_ROOT / "deploy" / "helm" / "llm-gateway" / "values.yaml").read_text()
    assert sidecar["label"] == "grafana_dashboard" and sidecar["labelValue"] == "1"
    assert "label: grafana_dashboard" in gateway_values and sidecar["searchNamespace"] == "ALL"
    collector = find(children, "Application", "opentelemetry-collector")["spec"]["source"]["helm"]
    assert "otlp/tempo" in collector["valuesObject"]["config"]["exporters"]


def test_policy_engine_excludes_system_namespaces(children: list[dict[str, Any]], tmp_path: Path) -> None:
    kyverno = find(children, "Application", "kyverno")["spec"]["source"]["helm"]["valuesObject"]
    selector = kyverno["config"]["webhooks"][0]["namespaceSelector"]["matchExpressions"][0]
    assert selector["operator"] == "NotIn" and SYSTEM_NAMESPACES <= set(selector["values"])
    policies_app = find(children, "Application", "platform-policies")["spec"]["source"]
    chart = REPO_ROOT / policies_app["path"]
    policies = documents(render(chart, [chart / "values.yaml"], policies_app["helm"]["valuesObject"]))
    assert check_kubernetes(policies, tmp_path) == []
    assert len(policies) >= 4
    for policy in policies:
        for rule in policy["spec"]["rules"]:
            excluded = set(rule["exclude"]["any"][0]["resources"]["namespaces"])
            assert SYSTEM_NAMESPACES <= excluded, policy["metadata"]["name"]


def test_cluster_config_renders_valid_objects(tmp_path: Path) -> None:
    chart = ARGOCD / "charts" / "cluster-config"
    docs = documents(render(chart, [chart / "values.yaml"], {"karpenterNodeRoleName": "node-role"}))
    assert {d["kind"] for d in docs} == {"ClusterSecretStore", "EC2NodeClass", "NodePool"}
    assert check_kubernetes(docs, tmp_path) == []
