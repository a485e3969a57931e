"""Render the Argo CD child applications' values against the upstream charts at their
pinned versions, and record the value shapes those charts expect.

A development tool, not a test: CI has no network and no upstream sources. Given local
git mirrors of the upstream chart repositories (one directory per repository, named
`owner+name/repo`, as the workplace's fetch tool lays them out), it

1. takes each third-party chart the rendered platform pins (and Argo CD's own chart
   with deploy/argocd/bootstrap/argocd-values.json),
2. extracts that chart at its release tag (`git archive`), with the dependencies our
   values enable taken from their own tags, the disabled ones dropped,
3. renders it with our values through the Helm SDK the deploy tools install (so a value
   of the wrong shape fails the way it fails in Argo CD), and
4. writes tests/deploy/upstream_shapes.json: for every value path we set, the shape
   (map, list, scalar, or absent) the upstream chart's defaults have there, plus what
   the render produced. test_upstream_shapes.py checks our values against that record
   offline, so a map passed as a list (Kyverno's config.webhooks) cannot come back.

    python -m tests.deploy.upstream_charts --mirrors /work/.mirror [--write]

Nothing fetched is committed: only the shapes this script records.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.deploy_helpers import REPO_ROOT, documents, render

SHAPES_FILE = Path(__file__).with_name("upstream_shapes.json")
SEPARATOR = " > "


@dataclass(frozen=True)
class Upstream:
    """Where a chart's source lives: mirror directory, chart path, release tag."""

    repository: str
    path: str
    tag: Callable[[str], str]
    # Karpenter's release job writes the version into Chart.yaml when it publishes the
    # chart: the tagged source still names the previous one.
    version_stamped_at_release: bool = False


def _eks_charts_commit(mirror: Path, path: str, version: str) -> str:
    """eks-charts has no per-chart tags: the newest commit whose Chart.yaml has the version."""
    log = _git(mirror, "log", "--format=%H", "--", f"{path}/Chart.yaml").split()
    for commit in log:
        chart = yaml.safe_load(_git(mirror, "show", f"{commit}:{path}/Chart.yaml"))
        if str(chart.get("version")) == version:
            return commit
    raise LookupError(f"no commit of {path} with version {version}")


UPSTREAM: dict[str, Upstream] = {
    "kyverno": Upstream("kyverno+kyverno", "charts/kyverno", lambda v: f"kyverno-chart-{v}"),
    "aws-load-balancer-controller": Upstream("aws+eks-charts", "stable/aws-load-balancer-controller", lambda v: ""),
    "metrics-server": Upstream(
        "kubernetes-sigs+metrics-server", "charts/metrics-server", lambda v: f"metrics-server-helm-chart-{v}"
    ),
    "external-dns": Upstream(
        "kubernetes-sigs+external-dns", "charts/external-dns", lambda v: f"external-dns-helm-chart-{v}"
    ),
    "external-secrets": Upstream(
        "external-secrets+external-secrets", "deploy/charts/external-secrets", lambda v: f"helm-chart-{v}"
    ),
    "karpenter": Upstream("aws+karpenter-provider-aws", "charts/karpenter", lambda v: f"v{v}", True),
    "kube-prometheus-stack": Upstream(
        "prometheus-community+helm-charts", "charts/kube-prometheus-stack", lambda v: f"kube-prometheus-stack-{v}"
    ),
    "loki": Upstream("grafana+loki", "production/helm/loki", lambda v: f"helm-loki-{v}"),
    "tempo": Upstream("grafana+helm-charts", "charts/tempo", lambda v: f"tempo-{v}"),
    "opentelemetry-collector": Upstream(
        "open-telemetry+opentelemetry-helm-charts",
        "charts/opentelemetry-collector",
        lambda v: f"opentelemetry-collector-{v}",
    ),
    "argo-cd": Upstream("argoproj+argo-helm", "charts/argo-cd", lambda v: f"argo-cd-{v}"),
}

# Dependencies that live in other repositories: name -> (mirror, path, tag for a version).
DEPENDENCIES: dict[str, Upstream] = {
    "grafana": Upstream("grafana+helm-charts", "charts/grafana", lambda v: f"grafana-{v}"),
    "kube-state-metrics": Upstream(
        "prometheus-community+helm-charts", "charts/kube-state-metrics", lambda v: f"kube-state-metrics-{v}"
    ),
    "prometheus-node-exporter": Upstream(
        "prometheus-community+helm-charts", "charts/prometheus-node-exporter", lambda v: f"prometheus-node-exporter-{v}"
    ),
}


def _git(mirror: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(mirror), *args], capture_output=True, text=True, check=True)
    return done.stdout


def _extract(mirror: Path, ref: str, path: str, target: Path) -> Path:
    """The chart directory `path` at `ref`, unpacked under target; returns its directory."""
    archive = subprocess.run(
        ["git", "-C", str(mirror), "archive", "--format=tar", ref, path], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        links = {member.name: member.linkname for member in tar.getmembers() if member.issym()}
        tar.extractall(target, members=[m for m in tar.getmembers() if not m.issym()], filter="data")
    # Symlinks pointing elsewhere in the repository (Karpenter's CRDs): the file they name.
    for name, link in links.items():
        source = (Path("/") / name).parent / link
        relative = str(source.resolve()).lstrip("/")
        (target / name).write_text(_git(mirror, "show", f"{ref}:{relative}"))
    return target / path


def _enabled(condition: str | None, values: dict[str, Any], defaults: dict[str, Any]) -> bool:
    if not condition:
        return True
    for source in (values, defaults):
        node: Any = source
        for part in condition.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            return bool(node)
    return False


def prepare_chart(mirrors: Path, name: str, version: str, values: dict[str, Any], work: Path) -> Path:
    """The upstream chart at `version`, with the dependencies `values` enable vendored."""
    upstream = UPSTREAM[name]
    mirror = mirrors / upstream.repository / "repo"
    ref = upstream.tag(version) or _eks_charts_commit(mirror, upstream.path, version)
    chart_dir = _extract(mirror, ref, upstream.path, work / name)
    chart_file = chart_dir / "Chart.yaml"
    chart = yaml.safe_load(chart_file.read_text())
    if not upstream.version_stamped_at_release:
        assert str(chart["version"]) == version, f"{name}: {ref} holds {chart['version']}, not {version}"
    defaults = yaml.safe_load((chart_dir / "values.yaml").read_text()) or {}
    kept = []
    for dependency in chart.get("dependencies", []) or []:
        dep_name = dependency["name"]
        if not _enabled(dependency.get("condition"), values, defaults):
            continue
        if (chart_dir / "charts" / dep_name).is_dir():
            kept.append(dependency)
            continue
        source = DEPENDENCIES[dep_name]
        dep_mirror = mirrors / source.repository / "repo"
        extracted = _extract(dep_mirror, source.tag(dependency["version"]), source.path, work / f"{name}-deps")
        extracted.rename(chart_dir / "charts" / dep_name)
        kept.append(dependency)
    chart["dependencies"] = kept
    chart_file.write_text(yaml.safe_dump(chart, sort_keys=False))
    (chart_dir / "Chart.lock").unlink(missing_ok=True)
    return chart_dir


def upstream_defaults(chart_dir: Path) -> dict[str, Any]:
    """The chart's default values, with each vendored subchart's defaults under its name."""
    defaults: dict[str, Any] = yaml.safe_load((chart_dir / "values.yaml").read_text()) or {}
    for sub in sorted((chart_dir / "charts").glob("*/values.yaml")):
        own = yaml.safe_load(sub.read_text()) or {}
        merged = dict(own)
        parent = defaults.get(sub.parent.name)
        if isinstance(parent, dict):
            merged.update(parent)
        defaults[sub.parent.name] = merged
    return defaults


def shape(value: Any) -> str:
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "any"
    return "scalar"


def paths(values: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every (path, value) we set: map entries are walked into, lists are leaves."""
    if isinstance(values, dict):
        for key, value in values.items():
            path = (*prefix, str(key))
            yield path, value
            yield from paths(value, path)


def lookup(defaults: Any, path: tuple[str, ...]) -> Any:
    """The upstream default at path, or the marker "<absent>"."""
    node = defaults
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return "<absent>"
        node = node[part]
    return node


def record_shapes(values: dict[str, Any], defaults: dict[str, Any]) -> dict[str, str]:
    recorded = {}
    for path, _ in paths(values):
        default = lookup(defaults, path)
        recorded[SEPARATOR.join(path)] = "absent" if default == "<absent>" else shape(default)
    return recorded


# What the upstream render produced that the platform depends on, per application:
# recorded with the shapes and asserted offline by test_upstream_shapes.py.
Docs = list[dict[str, Any]]


def _containers(docs: Docs, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in docs:
        if doc["kind"] == kind:
            for container in doc["spec"]["template"]["spec"]["containers"]:
                yield doc["metadata"]["name"], container


def _claim_classes(docs: Docs) -> list[str]:
    return sorted(
        str(claim["spec"].get("storageClassName"))
        for doc in docs
        if doc["kind"] == "StatefulSet"
        for claim in doc["spec"].get("volumeClaimTemplates", [])
    )


def _loki_facts(docs: Docs) -> dict[str, Any]:
    memcached = {
        name: container["resources"]["requests"]["memory"]
        for name, container in _containers(docs, "StatefulSet")
        if container["name"] == "memcached"
    }
    return {"volume_claim_classes": _claim_classes(docs), "memcached_memory_requests": sorted(memcached.values())}


def _collector_facts(docs: Docs) -> dict[str, Any]:
    relay = next(doc for doc in docs if doc["kind"] == "ConfigMap")["data"]["relay"]
    pipelines = yaml.safe_load(relay)["service"]["pipelines"]
    return {
        "kinds": sorted({doc["kind"] for doc in docs if doc["kind"] in {"DaemonSet", "Deployment"}}),
        "pipelines": {name: {"receivers": p["receivers"], "exporters": p["exporters"]} for name, p in pipelines.items()},
    }


def _kyverno_facts(docs: Docs) -> dict[str, Any]:
    config = next(doc for doc in docs if doc["kind"] == "ConfigMap" and "webhooks" in doc.get("data", {}))
    webhooks = json.loads(config["data"]["webhooks"])
    excluded = sorted({v for e in webhooks["namespaceSelector"]["matchExpressions"] for v in e["values"]})
    return {"webhook_excluded_namespaces": excluded}


def _controller_args(docs: Docs) -> dict[str, Any]:
    return {"args": sorted(arg for _, c in _containers(docs, "Deployment") for arg in c.get("args", []))}


def _prometheus_facts(docs: Docs) -> dict[str, Any]:
    prometheus = next(doc for doc in docs if doc["kind"] == "Prometheus")["spec"]
    claim = prometheus["storage"]["volumeClaimTemplate"]["spec"]
    return {
        "enableRemoteWriteReceiver": prometheus.get("enableRemoteWriteReceiver"),
        "storage_class": claim["storageClassName"],
    }


def _argocd_facts(docs: Docs) -> dict[str, Any]:
    cm = next(doc for doc in docs if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "argocd-cm")
    return {"argocd_cm_keys": sorted(cm["data"])}


FACTS: dict[str, Callable[[Docs], dict[str, Any]]] = {
    "loki": _loki_facts,
    "tempo": lambda docs: {"volume_claim_classes": _claim_classes(docs)},
    "opentelemetry-collector": _collector_facts,
    "kyverno": _kyverno_facts,
    "aws-load-balancer-controller": _controller_args,
    "kube-prometheus-stack": _prometheus_facts,
    "argocd (bootstrap)": _argocd_facts,
}


@dataclass(frozen=True)
class Child:
    application: str
    chart: str
    version: str
    values: dict[str, Any]
    release: str
    namespace: str


def child_charts() -> list[Child]:
    """Every third-party chart the platform pins, plus Argo CD itself, with the values,
    release name and namespace of the production root Application."""
    from runme.layout import ARGOCD_CHART_VERSION, Layout
    from runme.wiring import PlatformOutputs, root_application

    root = root_application(
        Layout(root=REPO_ROOT, env="prod"),
        PlatformOutputs.placeholders(),
        revision="main",
        repo_url="https://git.example.invalid/llm-gateway.git",
        tag="0.0.0-000000000000",
    )
    chart = REPO_ROOT / "deploy" / "argocd" / "platform"
    children = documents(render(chart, [chart / "values.yaml"], root["spec"]["source"]["helm"]["valuesObject"]))
    found = []
    for app in children:
        source = app["spec"]["source"]
        if "chart" in source:
            helm_source = source.get("helm", {})
            found.append(
                Child(
                    application=app["metadata"]["name"],
                    chart=source["chart"],
                    version=source["targetRevision"],
                    values=helm_source.get("valuesObject", {}),
                    release=helm_source.get("releaseName", app["metadata"]["name"]),
                    namespace=app["spec"]["destination"]["namespace"],
                )
            )
    argocd_values = json.loads((REPO_ROOT / "deploy" / "argocd" / "bootstrap" / "argocd-values.json").read_text())
    found.append(Child("argocd (bootstrap)", "argo-cd", ARGOCD_CHART_VERSION, argocd_values, "argocd", "argocd"))
    return sorted(found, key=lambda child: child.application)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirrors", type=Path, required=True, help="directory of owner+name/repo git mirrors")
    parser.add_argument("--write", action="store_true", help=f"write {SHAPES_FILE.name}")
    args = parser.parse_args(argv)
    record: dict[str, Any] = {}
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for child in child_charts():
            application, chart_name, version, values = child.application, child.chart, child.version, child.values
            work = Path(tmp) / application.replace(" ", "_")
            try:
                chart_dir = prepare_chart(args.mirrors, chart_name, version, values, work)
                rendered = documents(render(chart_dir, [], values, release=child.release, namespace=child.namespace))
            except (AssertionError, LookupError, subprocess.CalledProcessError, KeyError) as exc:
                print(f"FAIL {application}: {chart_name} {version}: {str(exc).strip()[:2000]}")
                failed = True
                continue
            kinds = sorted({doc["kind"] for doc in rendered})
            print(
                f"ok   {application}: {chart_name} {version} -> {child.release} in {child.namespace}: "
                f"{len(rendered)} objects ({', '.join(kinds)})"
            )
            record[application] = {
                "chart": chart_name,
                "version": version,
                "rendered": {"objects": len(rendered), "kinds": kinds},
                "facts": FACTS[application](rendered) if application in FACTS else {},
                "shapes": record_shapes(values, upstream_defaults(chart_dir)),
            }
    if args.write and not failed:
        SHAPES_FILE.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        print(f"wrote {SHAPES_FILE.relative_to(REPO_ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
