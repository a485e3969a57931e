"""The llm-gateway chart renders with default and production values, every manifest
validates against the Kubernetes schemas (offline), the chart lints strictly, and the
rendered objects carry the operational settings the issue asks for."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import wired_values
from tests.deploy.deploy_helpers import CHART_DIR, REPO_ROOT, VALUES_SETS, check_kubernetes, find, helm, render

Rendered = Callable[[str], list[dict[str, Any]]]
FULLNAME = "llm-gateway"


@pytest.mark.parametrize("values_set", ["default", "prod"])
def test_every_manifest_is_valid(values_set: str, rendered: Rendered, tmp_path: Path) -> None:
    docs = rendered(values_set)
    assert check_kubernetes(docs, tmp_path) == []


def test_schema_validation_catches_a_broken_manifest(rendered: Rendered, tmp_path: Path) -> None:
    deployment = json.loads(json.dumps(find(rendered("prod"), "Deployment", FULLNAME)))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pathh"] = "/x"
    deployment["spec"]["replicas"] = "two"
    problems = check_kubernetes([deployment], tmp_path)
    assert len(problems) == 1 and "Deployment/llm-gateway" in problems[0]


def test_crd_check_catches_a_missing_field(rendered: Rendered, tmp_path: Path) -> None:
    external_secret = json.loads(json.dumps(find(rendered("prod"), "ExternalSecret", FULLNAME)))
    del external_secret["spec"]["secretStoreRef"]
    assert check_kubernetes([external_secret], tmp_path) == [
        "ExternalSecret/llm-gateway: missing spec.secretStoreRef.kind",
        "ExternalSecret/llm-gateway: missing spec.secretStoreRef.name",
    ]


@pytest.mark.parametrize("values_set", ["default", "prod"])
def test_chart_lints_strictly(values_set: str) -> None:
    report = helm("lint", CHART_DIR, VALUES_SETS[values_set], wired_values() if values_set == "prod" else None)
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # 2 warning, 3 error
    assert problems == [] and report["errors"] == []


def test_prod_renders_every_kind(rendered: Rendered) -> None:
    kinds = sorted({(d["kind"], d["metadata"]["name"]) for d in rendered("prod")})
    assert kinds == [
        ("ConfigMap", "llm-gateway"),
        ("ConfigMap", "llm-gateway-dashboard"),
        ("Deployment", "llm-gateway"),
        ("Deployment", "llm-gateway-admin"),
        ("ExternalSecret", "llm-gateway"),
        ("ExternalSecret", "llm-gateway-migrate"),
        ("ExternalSecret", "llm-gateway-oidc"),
        ("Gateway", "llm-gateway"),
        ("HTTPRoute", "llm-gateway"),
        ("HTTPRoute", "llm-gateway-admin"),
        ("HorizontalPodAutoscaler", "llm-gateway"),
        ("Job", "llm-gateway-migrate"),
        ("LoadBalancerConfiguration", "llm-gateway"),
        ("NetworkPolicy", "llm-gateway"),
        ("PodDisruptionBudget", "llm-gateway"),
        ("PodDisruptionBudget", "llm-gateway-admin"),
        ("Service", "llm-gateway"),
        ("Service", "llm-gateway-admin"),
        ("ServiceAccount", "llm-gateway"),
        ("ServiceMonitor", "llm-gateway"),
        ("TargetGroupConfiguration", "llm-gateway"),
        ("TargetGroupConfiguration", "llm-gateway-admin"),
    ]


def pod_spec(docs: list[dict[str, Any]], name: str = FULLNAME) -> dict[str, Any]:
    spec: dict[str, Any] = find(docs, "Deployment", name)["spec"]["template"]["spec"]
    return spec


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def test_deployment_probes_rollout_and_spread(rendered: Rendered) -> None:
    deployment = find(rendered("prod"), "Deployment", FULLNAME)
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    assert "replicas" not in deployment["spec"]  # the HPA owns the count
    spec = pod_spec(rendered("prod"))
    container = spec["containers"][0]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["args"][:4] == ["serve", "--host=0.0.0.0", "--port=8080", "--admin-port=8081"]
    assert {p["containerPort"] for p in container["ports"]} == {8080, 8081}
    assert container["resources"]["requests"] and container["resources"]["limits"]
    terms = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert terms[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    spread_keys = {c["topologyKey"] for c in spec["topologySpreadConstraints"]}
    assert spread_keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}


@pytest.mark.parametrize("values_set", ["default", "prod"])
def test_pods_are_locked_down(values_set: str, rendered: Rendered) -> None:
    docs = rendered(values_set)
    pods = [pod_spec(docs)]
    if values_set == "prod":
        pods.append(find(docs, "Job")["spec"]["template"]["spec"])
        pods.append(pod_spec(docs, "llm-gateway-admin"))
    for spec in pods:
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            # The only writable path is the /tmp emptyDir (multiprocess metrics live there).
            mounts = {m["mountPath"]: m.get("readOnly", False) for m in container["volumeMounts"]}
            assert [path for path, read_only in mounts.items() if not read_only] == ["/tmp"]


def test_termination_grace_outlasts_the_drain(rendered: Rendered) -> None:
    spec = pod_spec(rendered("prod"))
    container = spec["containers"][0]
    env = env_of(container)
    drain = int(env["GATEWAY_SHUTDOWN_GRACE_SECONDS"])
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    assert spec["terminationGracePeriodSeconds"] > pre_stop + drain
    assert env["GATEWAY_CONFIG"] == "/etc/llm-gateway/gateway.yaml"


def test_multiprocess_metrics_only_with_several_workers(rendered: Rendered) -> None:
    prod = pod_spec(rendered("prod"))["containers"][0]
    assert "--workers=2" in prod["args"]
    assert env_of(prod)["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/")
    # One worker: prometheus_client's default registry (the variable would need the directory).
    default = pod_spec(rendered("default"))["containers"][0]
    assert "--workers=1" in default["args"] and "PROMETHEUS_MULTIPROC_DIR" not in env_of(default)


def test_configuration_and_secrets_reach_the_container(rendered: Rendered) -> None:
    docs = rendered("prod")
    container = pod_spec(docs)["containers"][0]
    env = env_of(container)
    assert env["GATEWAY_DATABASE_HOST"].endswith(".rds.amazonaws.com")
    assert container["image"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/llm-gateway-dev:0.1.0-1a2b3c4d5e6f"
    assert env["GATEWAY_DATABASE_PORT"] == "5432"
    assert env["PGSSLMODE"] == "require"
    secret_name = container["envFrom"][0]["secretRef"]["name"]
    external_secret = find(docs, "ExternalSecret", FULLNAME)
    assert external_secret["spec"]["target"]["name"] == secret_name
    produced = set(external_secret["spec"]["target"]["template"]["data"])
    assert produced == {
        "GATEWAY_DATABASE_USER",
        "GATEWAY_DATABASE_PASSWORD",
        "GATEWAY_ADMIN_KEY",
        "GATEWAY_REDIS_URL",
        "OPENAI_API_KEY",
    }
    redis_url = external_secret["spec"]["target"]["template"]["data"]["GATEWAY_REDIS_URL"]
    assert redis_url.startswith("rediss://:{{ .redisAuthToken | urlquery }}@clustercfg.")
    config = find(docs, "ConfigMap", FULLNAME)["data"]["gateway.yaml"]
    assert "bedrock-use1" in config and "${OPENAI_API_KEY}" in config


def test_migration_job_runs_before_install_and_upgrade(rendered: Rendered) -> None:
    docs = rendered("prod")
    job = find(docs, "Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    # Its secret comes from a hook ExternalSecret created before it (lower weight).
    hook_secret = find(docs, "ExternalSecret", "llm-gateway-migrate")
    assert hook_secret["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(hook_secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        annotations["helm.sh/hook-weight"]
    )
    env_from = job["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["secretRef"]["name"]
    assert env_from == hook_secret["spec"]["target"]["name"]


def test_scaling_and_disruption(rendered: Rendered) -> None:
    docs = rendered("prod")
    hpa = find(docs, "HorizontalPodAutoscaler")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 10)
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    assert find(docs, "PodDisruptionBudget", FULLNAME)["spec"]["minAvailable"] == 1


def test_public_and_admin_are_separate(rendered: Rendered) -> None:
    """Gateway API, not Ingress: one Gateway of class aws-alb (HTTPS with the ACM
    certificate, a modern TLS policy and the WAF web ACL), and an HTTPRoute per hostname."""
    docs = rendered("prod")
    assert not [d for d in docs if d["kind"] == "Ingress"]
    gateway = find(docs, "Gateway", FULLNAME)["spec"]
    assert gateway["gatewayClassName"] == "aws-alb"
    assert {(listener["protocol"], listener["port"]) for listener in gateway["listeners"]} == {("HTTPS", 443)}
    hostnames = {listener["name"]: listener["hostname"] for listener in gateway["listeners"]}
    assert hostnames == {"public": "api.dev.llm.acme.dev", "admin": "admin.dev.llm.acme.dev"}
    parameters = gateway["infrastructure"]["parametersRef"]
    config = find(docs, "LoadBalancerConfiguration", parameters["name"])["spec"]
    assert parameters["kind"] == "LoadBalancerConfiguration" and parameters["group"] == "gateway.k8s.aws"
    assert config["scheme"] == "internet-facing"
    listener = config["listenerConfigurations"][0]
    assert listener["protocolPort"] == "HTTPS:443"
    assert listener["defaultCertificate"].startswith("arn:aws:acm:")
    assert listener["sslPolicy"].startswith("ELBSecurityPolicy-TLS13-1-2-")
    assert config["wafV2"]["webACL"].startswith("arn:aws:wafv2:")

    public, admin = find(docs, "HTTPRoute", FULLNAME)["spec"], find(docs, "HTTPRoute", "llm-gateway-admin")["spec"]
    assert public["hostnames"] == ["api.dev.llm.acme.dev"] and admin["hostnames"] == ["admin.dev.llm.acme.dev"]
    assert public["parentRefs"][0]["sectionName"] == "public" and admin["parentRefs"][0]["sectionName"] == "admin"
    assert public["rules"][0]["matches"][0]["path"] == {"type": "PathPrefix", "value": "/v1"}
    assert public["rules"][0]["backendRefs"][0]["name"] == FULLNAME
    assert admin["rules"][0]["matches"][0]["path"] == {"type": "PathPrefix", "value": "/admin"}
    assert admin["rules"][0]["backendRefs"][0] == {"name": "llm-gateway-admin", "port": 8081}
    for name in (FULLNAME, "llm-gateway-admin"):
        target_group = find(docs, "TargetGroupConfiguration", name)["spec"]
        assert target_group["targetReference"]["name"] == name
        assert target_group["defaultConfiguration"]["targetType"] == "ip"
        assert target_group["defaultConfiguration"]["healthCheckConfig"]["healthCheckPath"] == "/readyz"


def test_gateway_needs_its_certificate_and_hostnames() -> None:
    """A Gateway without a certificate or with placeholder hostnames never gets an ALB:
    the chart refuses to render instead."""
    with pytest.raises(AssertionError, match=r"gatewayApi\.certificateArn is required"):
        render(CHART_DIR, VALUES_SETS["prod"])


def test_admin_deployment(rendered: Rendered) -> None:
    """`serve --admin-only` as its own small Deployment: no autoscaler, no migrations, the
    serving pods' Secret plus the OIDC settings from the secret store, on the admin Service."""
    docs = rendered("prod")
    deployment = find(docs, "Deployment", "llm-gateway-admin")
    spec = deployment["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["args"][:2] == ["serve", "--admin-only"]
    assert deployment["spec"]["replicas"] == 2
    assert not [d for d in docs if d["kind"] == "HorizontalPodAutoscaler" and d["metadata"]["name"].endswith("admin")]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert {p["containerPort"] for p in container["ports"]} == {8081}
    env = env_of(container)
    assert env["GATEWAY_DATABASE_HOST"] == env_of(pod_spec(docs)["containers"][0])["GATEWAY_DATABASE_HOST"]
    secrets = [ref["secretRef"]["name"] for ref in container["envFrom"]]
    assert secrets == ["llm-gateway", "llm-gateway-oidc"]
    oidc = find(docs, "ExternalSecret", "llm-gateway-oidc")["spec"]
    assert {item["secretKey"] for item in oidc["data"]} == {
        "GATEWAY_OIDC_ISSUER",
        "GATEWAY_OIDC_CLIENT_ID",
        "GATEWAY_OIDC_CLIENT_SECRET",
        "GATEWAY_OIDC_ROLES_CLAIM",
    }
    assert {item["remoteRef"]["key"] for item in oidc["data"]} == {"llm-gateway/dev/oidc"}
    # The admin Service selects the admin pods, the public Service the serving pods.
    selector = find(docs, "Service", "llm-gateway-admin")["spec"]["selector"]
    assert selector["app.kubernetes.io/component"] == "admin"
    assert deployment["spec"]["selector"]["matchLabels"] == selector
    job_args = find(docs, "Job")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert job_args == ["migrate"] and "migrate" not in container["args"]


def test_admin_deployment_is_off_by_default(rendered: Rendered) -> None:
    docs = rendered("default")
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"] == [FULLNAME]
    assert find(docs, "Service", "llm-gateway-admin")["spec"]["selector"]["app.kubernetes.io/component"] == "server"


def test_identity_monitoring_and_network(rendered: Rendered) -> None:
    docs = rendered("prod")
    account = find(docs, "ServiceAccount")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    monitor = find(docs, "ServiceMonitor")["spec"]["endpoints"][0]
    # /metrics is served on the admin port (its labels name tenants), never on the public one
    assert (monitor["port"], monitor["path"]) == ("metrics", "/metrics")
    ports = {p["name"]: p["targetPort"] for p in find(docs, "Service", FULLNAME)["spec"]["ports"]}
    assert ports == {"http": "http", "metrics": "admin"}
    policy = find(docs, "NetworkPolicy")["spec"]
    scrape = [rule for rule in policy["ingress"] if rule["ports"][0]["port"] == "admin" and
              {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}} in rule["from"]]
    assert scrape, policy["ingress"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    admin_rule = next(rule for rule in policy["ingress"] if rule["ports"][0]["port"] == "admin")
    assert {"ipBlock": {"cidr": "10.10.0.0/16"}} in admin_rule["from"]  # the VPC the ALB reaches pods from
    egress_ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    assert {53, 5432, 6379, 443} <= egress_ports


def test_dashboard_configmap_carries_the_dashboard(rendered: Rendered) -> None:
    configmap = find(rendered("default"), "ConfigMap", "llm-gateway-dashboard")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads((REPO_ROOT / "deploy" / "grafana" / "llm-gateway.json").read_text())
    assert json.loads(configmap["data"]["llm-gateway.json"]) == shipped


def test_default_values_leave_out_what_needs_infrastructure(rendered: Rendered) -> None:
    kinds = {d["kind"] for d in rendered("default")}
    assert "Job" not in kinds and "Gateway" not in kinds  # no database host, no hostnames
    assert "GATEWAY_DATABASE_HOST" not in env_of(pod_spec(rendered("default"))["containers"][0])


def test_every_value_is_documented() -> None:
    import yaml

    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    rows = [line for line in (CHART_DIR / "README.md").read_text().splitlines() if line.startswith("| `")]
    for top, value in values.items():
        children = list(value) if isinstance(value, dict) and value else [None]
        for child in children:
            documented = [
                row
                for row in rows
                if re.search(rf"`{top}[.`]", row.split("|")[1]) and (child is None or child in row)
            ]
            assert documented, f"values.yaml {top}{'.' + child if child else ''} is not in README.md"
