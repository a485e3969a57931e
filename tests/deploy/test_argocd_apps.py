"""The Argo CD app-of-apps: the root Application RUNME.py writes renders
deploy/argocd/platform into one child Application per platform component, in a sync
order Argo CD really gates on; the policy and cluster-config charts render valid objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from runme.layout import IMAGE_PLATFORMS, PLATFORM_APPLICATIONS, Layout
from runme.wiring import PlatformOutputs, root_application

from tests.deploy.deploy_helpers import REPO_ROOT, check_kubernetes, documents, find, helm, render

ARGOCD = REPO_ROOT / "deploy" / "argocd"
SYSTEM_NAMESPACES = {"kube-system", "kube-public", "kube-node-lease", "argocd", "kyverno"}
# The list: the policies must leave these alone.
POLICY_EXCLUSIONS = {"kube-system", "velero", "kyverno", "monitoring", "cert-manager"}
REPO_URL = "https://git.acme.dev/platform/llm-gateway.git"


@pytest.fixture(scope="module")
def root_app() -> dict[str, Any]:
    outputs = PlatformOutputs.placeholders()
    layout = Layout(root=REPO_ROOT, env="prod")
    app: dict[str, Any] = root_application(layout, outputs, revision="main", repo_url=REPO_URL,
                                           tag="0.1.0-1a2b3c4d5e6f")
    return app


def render_platform(values: dict[str, Any]) -> list[dict[str, Any]]:
    chart = ARGOCD / "platform"
    return documents(render(chart, [chart / "values.yaml"], values))


@pytest.fixture(scope="module")
def children(root_app: dict[str, Any]) -> list[dict[str, Any]]:
    """The child Applications, rendered the way Argo CD renders the root."""
    return render_platform(root_app["spec"]["source"]["helm"]["valuesObject"])


def wave(app: dict[str, Any]) -> int:
    return int(app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])


def helm_values(children: list[dict[str, Any]], name: str) -> dict[str, Any]:
    values: dict[str, Any] = find(children, "Application", name)["spec"]["source"]["helm"]["valuesObject"]
    return values


def test_root_application_points_at_the_platform_chart(root_app: dict[str, Any], tmp_path: Path) -> None:
    assert check_kubernetes([root_app], tmp_path) == []
    assert root_app["spec"]["source"]["path"] == "deploy/argocd/platform"
    assert root_app["spec"]["source"]["repoURL"] == REPO_URL
    assert (ARGOCD / "platform" / "Chart.yaml").is_file()


def test_no_example_repository_fallback(root_app: dict[str, Any]) -> None:
    """The platform chart has no example repoURL to fall back on: without one it fails."""
    values = json.loads(json.dumps(root_app["spec"]["source"]["helm"]["valuesObject"]))
    del values["repoURL"]
    with pytest.raises(AssertionError, match="repoURL is required"):
        render_platform(values)
    assert "example" not in (ARGOCD / "platform" / "values.yaml").read_text().split("repoURL:")[1].splitlines()[0]


def test_children_cover_the_platform(children: list[dict[str, Any]], tmp_path: Path) -> None:
    assert check_kubernetes(children, tmp_path) == []
    names = {app["metadata"]["name"] for app in children}
    assert names == set(PLATFORM_APPLICATIONS)
    for app in children:
        assert app["kind"] == "Application" and app["metadata"]["namespace"] == "argocd"
        source = app["spec"]["source"]
        if source["repoURL"] == REPO_URL:
            assert (REPO_ROOT / source["path"] / "Chart.yaml").is_file(), source["path"]
        elif "chart" in source:
            assert source["targetRevision"][0].isdigit(), "third-party charts are pinned"
        else:  # a third-party git directory (the Gateway API CRDs): pinned to a tag
            assert source["targetRevision"].startswith("v") and source["targetRevision"][1].isdigit()


def test_runme_waits_for_every_child_in_wave_order(children: list[dict[str, Any]]) -> None:
    """RUNME.py `apps` waits on exactly the rendered children, lower waves first."""
    by_name = {app["metadata"]["name"]: app for app in children}
    assert sorted(by_name) == sorted(PLATFORM_APPLICATIONS)
    waves = [wave(by_name[name]) for name in PLATFORM_APPLICATIONS]
    assert waves == sorted(waves)


def test_sync_order(children: list[dict[str, Any]]) -> None:
    by_name = {app["metadata"]["name"]: app for app in children}
    gateway = wave(by_name["llm-gateway"])
    # CRDs (ExternalSecret, ServiceMonitor, ClusterPolicy, Gateway) exist before the gateway syncs.
    for dependency in [
        "external-secrets",
        "kube-prometheus-stack",
        "kyverno",
        "cluster-config",
        "metrics-server",
        "aws-load-balancer-controller",
        "gateway-api-crds",
        "external-dns",
    ]:
        assert wave(by_name[dependency]) < gateway
    assert wave(by_name["kyverno"]) < wave(by_name["platform-policies"])
    assert wave(by_name["external-secrets"]) < wave(by_name["cluster-config"])
    # The GatewayClass (cluster-config) and the controller need the Gateway API CRDs.
    assert wave(by_name["gateway-api-crds"]) < wave(by_name["aws-load-balancer-controller"])
    assert wave(by_name["gateway-api-crds"]) < wave(by_name["cluster-config"])
    # Loki and Tempo claim gp3 volumes: the StorageClass (cluster-config) comes first.
    assert wave(by_name["cluster-config"]) < wave(by_name["loki"])


def test_sync_waves_gate_on_application_health() -> None:
    """Argo CD >= 1.8 has no health check for Application resources, so a parent never
    waits for a child's wave; the bootstrap values restore the check."""
    values = json.loads((ARGOCD / "bootstrap" / "argocd-values.json").read_text())
    script = values["configs"]["cm"]["resource.customizations.health.argoproj.io_Application"]
    assert "obj.status.health.status" in script and "return hs" in script


@pytest.mark.parametrize(
    ("status", "health"),
    [
        (None, "Progressing"),  # just created: the parent must wait
        ({"health": {"status": "Progressing"}}, "Progressing"),
        ({"health": {"status": "Degraded", "message": "loki: CrashLoopBackOff"}}, "Degraded"),
        ({"health": {"status": "Healthy"}}, "Healthy"),
    ],
)
def test_application_health_script_runs(status: dict[str, Any] | None, health: str) -> None:
    """The Lua health check, executed (lupa comes with the test extras' fakeredis[lua])."""
    lupa = pytest.importorskip("lupa")
    values = json.loads((ARGOCD / "bootstrap" / "argocd-values.json").read_text())
    script = values["configs"]["cm"]["resource.customizations.health.argoproj.io_Application"]
    runtime = lupa.LuaRuntime(unpack_returned_tuples=True)
    obj = {"kind": "Application", "metadata": {"name": "loki"}}
    if status is not None:
        obj["status"] = status
    chunk = runtime.eval("function(s) return load(s) end")("local obj = ...\n" + script)
    result = chunk(runtime.table_from(obj, recursive=True))
    assert result["status"] == health
    if status and "message" in status["health"]:
        assert result["message"] == status["health"]["message"]


def test_gateway_child_gets_the_wiring(children: list[dict[str, Any]], root_app: dict[str, Any]) -> None:
    gateway = find(children, "Application", "llm-gateway")
    helm_source = gateway["spec"]["source"]["helm"]
    assert gateway["spec"]["source"]["path"] == "deploy/helm/llm-gateway"
    assert helm_source["valueFiles"] == ["values.yaml", "values-prod.yaml"]
    assert helm_source["valuesObject"] == root_app["spec"]["source"]["helm"]["valuesObject"]["gateway"]["values"]
    assert gateway["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


def test_load_balancer_controller_serves_the_gateway_api(children: list[dict[str, Any]]) -> None:
    controller = find(children, "Application", "aws-load-balancer-controller")["spec"]["source"]
    assert int(controller["targetRevision"].split(".")[0]) >= 2  # chart 1.13 (v2.13) had no HTTPS on L7 gateways
    assert controller["helm"]["valuesObject"]["controllerConfig"]["featureGates"]["ALBGatewayAPI"] is True
    dns = helm_values(children, "external-dns")
    assert dns["sources"] == ["gateway-httproute"] and dns["domainFilters"] == ["<terraform output dns_zone_name>"]


def test_observability_is_wired_end_to_end(children: list[dict[str, Any]]) -> None:
    """Traces to Tempo, logs to Loki, metrics to Prometheus: no pipeline ends at `debug`."""
    collector = helm_values(children, "opentelemetry-collector")
    pipelines = collector["config"]["service"]["pipelines"]
    assert set(pipelines) == {"traces", "logs", "metrics"}
    exporters = collector["config"]["exporters"]
    assert pipelines["traces"]["exporters"] == ["otlp/tempo"] and "tempo." in exporters["otlp/tempo"]["endpoint"]
    assert pipelines["logs"]["exporters"] == ["otlphttp/loki"]
    assert exporters["otlphttp/loki"]["endpoint"].startswith("http://loki-gateway.") and "/otlp" in exporters[
        "otlphttp/loki"
    ]["endpoint"]
    assert pipelines["metrics"]["exporters"] == ["prometheusremotewrite"]
    assert exporters["prometheusremotewrite"]["endpoint"].endswith("/api/v1/write")
    for pipeline in pipelines.values():
        assert "debug" not in pipeline["exporters"]
    # Pod logs reach the collector: it runs on every node and tails their files.
    assert collector["mode"] == "daemonset" and collector["presets"]["logsCollection"]["enabled"] is True
    stack = helm_values(children, "kube-prometheus-stack")
    assert stack["prometheus"]["prometheusSpec"]["enableRemoteWriteReceiver"] is True
    sources = {source["type"]: source for source in stack["grafana"]["additionalDataSources"]}
    assert sources["loki"]["url"].startswith("http://loki-gateway.") and ":3200" in sources["tempo"]["url"]
    sidecar = stack["grafana"]["sidecar"]["dashboards"]
    gateway_values = (REPO_ROOT / "deploy" / "helm" / "llm-gateway" / "values.yaml").read_text()
    assert sidecar["label"] == "grafana_dashboard" and sidecar["labelValue"] == "1"
    assert "label: grafana_dashboard" in gateway_values and sidecar["searchNamespace"] == "ALL"
    prod = yaml.safe_load((REPO_ROOT / "deploy" / "helm" / "llm-gateway" / "values-prod.yaml").read_text())
    assert prod["otel"]["endpoint"] == "http://opentelemetry-collector.observability.svc:4318"


def test_loki_can_start(children: list[dict[str, Any]]) -> None:
    """Its volume claim names the gp3 class (EBS CSI add-on) and its caches fit a node."""
    loki = helm_values(children, "loki")
    persistence = loki["singleBinary"]["persistence"]
    assert persistence["enabled"] is True and persistence["storageClass"] == "gp3"
    # The chart requests allocatedMemory * 1.2 Mi for the chunks cache: 8192 -> 9830Mi.
    assert loki["chunksCache"]["allocatedMemory"] <= 2048
    assert loki["resultsCache"]["allocatedMemory"] <= 1024
    tempo = helm_values(children, "tempo")
    assert tempo["persistence"]["storageClassName"] == "gp3"


def test_policy_engine_takes_a_map_of_webhooks(children: list[dict[str, Any]]) -> None:
    """Chart 3.4.4 reads config.webhooks as a map (namespaceSelector, objectSelector); a
    list fails its template with `can't evaluate field namespaceSelector`."""
    kyverno = helm_values(children, "kyverno")
    webhooks = kyverno["config"]["webhooks"]
    assert isinstance(webhooks, dict)
    selector = webhooks["namespaceSelector"]["matchExpressions"][0]
    assert selector["operator"] == "NotIn" and SYSTEM_NAMESPACES | POLICY_EXCLUSIONS <= set(selector["values"])


def policies(children: list[dict[str, Any]], **overrides: Any) -> list[dict[str, Any]]:
    source = find(children, "Application", "platform-policies")["spec"]["source"]
    chart = REPO_ROOT / source["path"]
    return documents(render(chart, [chart / "values.yaml"], {**source["helm"]["valuesObject"], **overrides}))


def test_restricted_policies_start_audited(children: list[dict[str, Any]], tmp_path: Path) -> None:
    docs = policies(children)
    assert check_kubernetes(docs, tmp_path) == []
    names = {policy["metadata"]["name"] for policy in docs}
    assert {
        "require-run-as-non-root",
        "disallow-run-as-root-user",
        "require-seccomp-profile",
        "disallow-host-path",
        "disallow-privileged-containers",
        "disallow-privilege-escalation",
        "require-drop-all-capabilities",
        "disallow-host-namespaces",
        "disallow-host-ports",
        "require-resource-limits",
    } <= names
    for policy in docs:
        assert policy["spec"]["failurePolicy"] == "Ignore", policy["metadata"]["name"]
        for rule in policy["spec"]["rules"]:
            assert rule["validate"]["failureAction"] == "Audit"
            excluded = set(rule["exclude"]["any"][0]["resources"]["namespaces"])
            assert SYSTEM_NAMESPACES | POLICY_EXCLUSIONS <= excluded, policy["metadata"]["name"]


def test_one_value_promotes_every_policy_to_enforce(root_app: dict[str, Any]) -> None:
    values = json.loads(json.dumps(root_app["spec"]["source"]["helm"]["valuesObject"]))
    values.setdefault("kyverno", {})["enforce"] = True  # the one value
    docs = policies(render_platform(values))
    assert {policy["spec"]["failurePolicy"] for policy in docs} == {"Fail"}
    assert {rule["validate"]["failureAction"] for policy in docs for rule in policy["spec"]["rules"]} == {"Enforce"}


def test_policies_lint(children: list[dict[str, Any]]) -> None:
    source = find(children, "Application", "platform-policies")["spec"]["source"]
    chart = REPO_ROOT / source["path"]
    report = helm("lint", chart, [chart / "values.yaml"], source["helm"]["valuesObject"])
    assert report["errors"] == [] and [m for m in report["messages"] if m["severity"] >= 2] == []


def test_cluster_config_renders_valid_objects(children: list[dict[str, Any]], tmp_path: Path) -> None:
    source = find(children, "Application", "cluster-config")["spec"]["source"]
    chart = ARGOCD / "charts" / "cluster-config"
    docs = documents(render(chart, [chart / "values.yaml"], {**source["helm"]["valuesObject"]}))
    assert sorted(d["kind"] for d in docs) == [
        "ClusterSecretStore",
        "EC2NodeClass",
        "GatewayClass",
        "NodePool",
        "NodePool",
        "StorageClass",
    ]
    assert check_kubernetes(docs, tmp_path) == []
    storage = find(docs, "StorageClass")
    assert storage["provisioner"] == "ebs.csi.aws.com"
    assert storage["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    gateway_class = find(docs, "GatewayClass")
    assert gateway_class["metadata"]["name"] == "aws-alb"
    assert gateway_class["spec"]["controllerName"] == "gateway.k8s.aws/alb"


def test_node_pools_only_run_architectures_the_image_has(children: list[dict[str, Any]]) -> None:
    """A NodePool that allows arm64 while the image is amd64-only schedules pods that
    crash with `exec format error`; a Graviton pool exists and the image covers it."""
    source = find(children, "Application", "cluster-config")["spec"]["source"]
    chart = ARGOCD / "charts" / "cluster-config"
    docs = documents(render(chart, [chart / "values.yaml"], {**source["helm"]["valuesObject"]}))
    image_architectures = {platform.split("/")[1] for platform in IMAGE_PLATFORMS}
    seen: set[str] = set()
    for pool in (d for d in docs if d["kind"] == "NodePool"):
        requirement = next(
            r for r in pool["spec"]["template"]["spec"]["requirements"] if r["key"] == "kubernetes.io/arch"
        )
        assert set(requirement["values"]) <= image_architectures, pool["metadata"]["name"]
        seen |= set(requirement["values"])
    assert "arm64" in seen, "a Graviton (arm64) node pool"


def test_platform_and_cluster_config_lint(root_app: dict[str, Any], children: list[dict[str, Any]]) -> None:
    platform = ARGOCD / "platform"
    report = helm("lint", platform, [platform / "values.yaml"], root_app["spec"]["source"]["helm"]["valuesObject"])
    assert report["errors"] == [] and [m for m in report["messages"] if m["severity"] >= 2] == []
    source = find(children, "Application", "cluster-config")["spec"]["source"]
    chart = ARGOCD / "charts" / "cluster-config"
    report = helm("lint", chart, [chart / "values.yaml"], source["helm"]["valuesObject"])
    assert report["errors"] == [] and [m for m in report["messages"] if m["severity"] >= 2] == []
