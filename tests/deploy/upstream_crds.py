"""Validate the custom resources the platform renders (Gateway API, the load balancer
controller's configurations, Kyverno policies, Karpenter pools, External Secrets,
ServiceMonitor) against the CRD schemas of the pinned upstream versions.

A development tool beside upstream_charts.py (same mirrors); it records, per kind, the
CRD version it validated against and how many objects passed, in
tests/deploy/upstream_crds.json, which test_upstream_shapes.py checks offline.

    python -m tests.deploy.upstream_crds --mirrors /work/.mirror [--write]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.deploy_helpers import CHART_DIR, REPO_ROOT, VALUES_SETS, documents, find_tool, render, run_tool

RECORD_FILE = Path(__file__).with_name("upstream_crds.json")
ARGOCD = REPO_ROOT / "deploy" / "argocd"

# (mirror, ref, path of a file holding CRDs) for every custom kind we render.
CRD_SOURCES = [
    ("kubernetes-sigs+gateway-api", "{gateway_api}", "config/crd/standard/gateway.networking.k8s.io_gatewayclasses.yaml"),
    ("kubernetes-sigs+gateway-api", "{gateway_api}", "config/crd/standard/gateway.networking.k8s.io_gateways.yaml"),
    ("kubernetes-sigs+gateway-api", "{gateway_api}", "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml"),
    ("aws+eks-charts", "{lbc_commit}", "stable/aws-load-balancer-controller/crds/gateway-crds.yaml"),
    ("kyverno+kyverno", "v1.14.4", "config/crds/kyverno/kyverno.io_clusterpolicies.yaml"),
    ("aws+karpenter-provider-aws", "v{karpenter}", "pkg/apis/crds/karpenter.sh_nodepools.yaml"),
    ("aws+karpenter-provider-aws", "v{karpenter}", "pkg/apis/crds/karpenter.k8s.aws_ec2nodeclasses.yaml"),
    ("external-secrets+external-secrets", "v{external_secrets}", "config/crds/bases/external-secrets.io_externalsecrets.yaml"),
    (
        "external-secrets+external-secrets",
        "v{external_secrets}",
        "config/crds/bases/external-secrets.io_clustersecretstores.yaml",
    ),
    ("argoproj+argo-helm", "argo-cd-{argocd}", "charts/argo-cd/templates/crds/crd-application.yaml"),
    (
        "prometheus-community+helm-charts",
        "kube-prometheus-stack-{kps}",
        "charts/kube-prometheus-stack/charts/crds/crds/crd-servicemonitors.yaml",
    ),
]

VALIDATE = """
import json, sys, jsonschema
schemas, objects = json.load(sys.stdin)
errors = []
for obj in objects:
    key = obj["apiVersion"] + "/" + obj["kind"]
    schema = schemas.get(key)
    if schema is None:
        errors.append(f"{key} {obj['metadata']['name']}: no CRD schema")
        continue
    for error in jsonschema.Draft7Validator(schema).iter_errors(obj):
        errors.append(f"{key} {obj['metadata']['name']}: {'/'.join(map(str, error.path))}: {error.message[:300]}")
json.dump(errors, sys.stdout)
"""


def crd_schemas(mirrors: Path, refs: dict[str, str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """apiVersion/kind -> (where from, OpenAPI schema) of every served CRD version."""
    schemas: dict[str, tuple[str, dict[str, Any]]] = {}
    for repository, ref_template, path in CRD_SOURCES:
        ref = ref_template.format(**refs)
        text = subprocess.run(
            ["git", "-C", str(mirrors / repository / "repo"), "show", f"{ref}:{path}"],
            capture_output=True, text=True, check=True,
        ).stdout
        # Argo CD's chart wraps its CRDs in template conditionals: the YAML is the rest.
        text = "\n".join(line for line in text.splitlines() if not line.strip().startswith("{{"))
        for crd in yaml.safe_load_all(text):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version.get("served"):
                    schema = version["schema"]["openAPIV3Schema"]
                    schemas[f"{group}/{version['name']}/{kind}"] = (f"{repository.split('+')[1]}@{ref[:12]}", schema)
    return schemas


def rendered_custom_resources() -> list[dict[str, Any]]:
    from runme.layout import Layout
    from runme.wiring import PlatformOutputs, root_application

    from tests.deploy.conftest import wired_values

    docs = documents(render(CHART_DIR, VALUES_SETS["prod"], wired_values()))
    root = root_application(
        Layout(root=REPO_ROOT, env="prod"),
        PlatformOutputs.placeholders(),
        revision="main",
        repo_url="https://git.example.invalid/llm-gateway.git",
        tag="0.0.0-000000000000",
    )
    platform = ARGOCD / "platform"
    docs += [root, *documents(render(platform, [platform / "values.yaml"], root["spec"]["source"]["helm"]["valuesObject"]))]
    for chart, overrides in [
        ("cluster-config", {"karpenterNodeRoleName": "node-role"}),
        ("policies", {}),
    ]:
        directory = ARGOCD / "charts" / chart
        docs += documents(render(directory, [directory / "values.yaml"], overrides))
    builtin_groups = ("v1", "apps/", "batch/", "policy/", "autoscaling/", "networking.k8s.io/", "storage.k8s.io/")
    return [d for d in docs if not d["apiVersion"].startswith(builtin_groups)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirrors", type=Path, required=True)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    from tests.deploy.upstream_charts import UPSTREAM, _eks_charts_commit

    platform = yaml.safe_load((ARGOCD / "platform" / "values.yaml").read_text())
    lbc = UPSTREAM["aws-load-balancer-controller"]
    from runme.layout import ARGOCD_CHART_VERSION

    refs = {
        "argocd": ARGOCD_CHART_VERSION,
        "gateway_api": platform["gatewayApi"]["version"],
        "lbc_commit": _eks_charts_commit(
            args.mirrors / lbc.repository / "repo", lbc.path, platform["loadBalancerController"]["chartVersion"]
        ),
        "karpenter": platform["karpenter"]["chartVersion"],
        "external_secrets": platform["externalSecrets"]["chartVersion"],
        "kps": platform["observability"]["kubePrometheusStackVersion"],
    }
    schemas = crd_schemas(args.mirrors, refs)
    objects = rendered_custom_resources()
    python = find_tool("hcl2-python")  # the tools venv has jsonschema
    done = run_tool(
        [python, "-c", VALIDATE],
        input=json.dumps([{k: v[1] for k, v in schemas.items()}, objects]),
    )
    assert done.returncode == 0, done.stderr
    errors: list[str] = json.loads(done.stdout)
    for error in errors:
        print("FAIL", error)
    record: dict[str, Any] = {}
    for obj in objects:
        key = f"{obj['apiVersion']}/{obj['kind']}"
        entry = record.setdefault(key, {"crd": schemas[key][0] if key in schemas else None, "objects": 0})
        entry["objects"] += 1
    for key, entry in sorted(record.items()):
        print(f"{'ok  ' if not [e for e in errors if e.startswith(key + ' ')] else 'FAIL'} {key}: "
              f"{entry['objects']} object(s) against {entry['crd']}")
    if args.write and not errors:
        RECORD_FILE.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        print(f"wrote {RECORD_FILE.relative_to(REPO_ROOT)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
