"""The child applications' values against what their pinned upstream charts expect,
offline. upstream_shapes.json was recorded by `python -m tests.deploy.upstream_charts
--mirrors DIR --write`, which rendered every child's values against the upstream chart
source at its pinned version; these tests hold today's values to that record:

- a chart version bump or a new value path without a new recording fails;
- a value whose shape (map, list, scalar) differs from the chart's default fails, which
  is how Kyverno's config.webhooks list broke chart 3.4.4;
- what those renders produced (volumes, caches, pipelines, webhook exclusions, controller
  flags, Argo CD's health check) still says what the platform needs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.upstream_charts import SEPARATOR, SHAPES_FILE, Child, child_charts, paths, shape

RECORD: dict[str, Any] = json.loads(SHAPES_FILE.read_text())
POLICY_EXCLUSIONS = {"kube-system", "velero", "kyverno", "monitoring", "cert-manager"}


@pytest.fixture(scope="module")
def children() -> dict[str, Child]:
    return {child.application: child for child in child_charts()}


def shape_problems(values: dict[str, Any], shapes: dict[str, str]) -> list[str]:
    """Value paths we set that the record lacks, or whose shape the chart does not expect."""
    problems = []
    for path, value in paths(values):
        key = SEPARATOR.join(path)
        expected = shapes.get(key)
        if expected is None:
            problems.append(f"{key}: not recorded (re-run tests.deploy.upstream_charts against the chart)")
        elif expected not in ("absent", "any") and expected != shape(value):
            problems.append(f"{key}: the chart expects a {expected}, the value is a {shape(value)}")
    return problems


def test_every_pinned_chart_was_rendered_at_its_version(children: dict[str, Child]) -> None:
    assert set(children) == set(RECORD)
    for name, child in children.items():
        recorded = RECORD[name]
        assert (recorded["chart"], recorded["version"]) == (child.chart, child.version), (
            f"{name}: values recorded against {recorded['chart']} {recorded['version']}, pinned {child.version}"
        )
        assert recorded["rendered"]["objects"] > 0


@pytest.mark.parametrize("application", sorted(RECORD))
def test_values_have_the_shapes_the_chart_expects(application: str, children: dict[str, Child]) -> None:
    assert shape_problems(children[application].values, RECORD[application]["shapes"]) == []


def test_the_old_kyverno_webhooks_list_is_rejected(children: dict[str, Child]) -> None:
    values = json.loads(json.dumps(children["kyverno"].values))
    values["config"]["webhooks"] = [values["config"]["webhooks"]]
    assert shape_problems(values, RECORD["kyverno"]["shapes"]) == [
        "config > webhooks: the chart expects a map, the value is a list"
    ]


def test_a_value_path_nobody_rendered_is_flagged(children: dict[str, Child]) -> None:
    values = {**children["loki"].values, "singleBinaryy": {"replicas": 1}}
    assert "singleBinaryy: not recorded" in shape_problems(values, RECORD["loki"]["shapes"])[0]


def mebibytes(quantity: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit == "Gi" else 1)


def test_rendered_observability_reaches_its_backends() -> None:
    collector = RECORD["opentelemetry-collector"]["facts"]
    assert collector["kinds"] == ["DaemonSet"]
    pipelines = collector["pipelines"]
    assert pipelines["traces"]["exporters"] == ["otlp/tempo"]
    assert pipelines["logs"]["exporters"] == ["otlphttp/loki"] and "filelog" in pipelines["logs"]["receivers"]
    assert pipelines["metrics"]["exporters"] == ["prometheusremotewrite"]
    prometheus = RECORD["kube-prometheus-stack"]["facts"]
    assert prometheus == {"enableRemoteWriteReceiver": True, "storage_class": "gp3"}


def test_rendered_loki_and_tempo_fit_and_bind() -> None:
    loki = RECORD["loki"]["facts"]
    assert loki["volume_claim_classes"] == ["gp3"]
    assert max(mebibytes(q) for q in loki["memcached_memory_requests"]) <= 2048  # was 9830Mi
    assert RECORD["tempo"]["facts"]["volume_claim_classes"] == ["gp3"]


def test_rendered_platform_controllers() -> None:
    assert POLICY_EXCLUSIONS <= set(RECORD["kyverno"]["facts"]["webhook_excluded_namespaces"])
    assert "--feature-gates=ALBGatewayAPI=true" in RECORD["aws-load-balancer-controller"]["facts"]["args"]
    health = "resource.customizations.health.argoproj.io_Application"
    assert health in RECORD["argocd (bootstrap)"]["facts"]["argocd_cm_keys"]


def test_the_record_holds_no_upstream_source() -> None:
    """Only shapes and facts we wrote: no template or values file of a fetched chart."""
    text = SHAPES_FILE.read_text()
    assert "{{" not in text and len(text) < 40_000
    assert not list(Path(__file__).parent.glob("**/Chart.yaml"))


def test_every_custom_resource_kind_was_validated_against_its_crd() -> None:
    """tests.deploy.upstream_crds validated each custom resource the platform renders
    against the pinned CRD's schema; a new kind (or a new object) needs a new run."""
    from tests.deploy.upstream_crds import RECORD_FILE as CRD_RECORD
    from tests.deploy.upstream_crds import rendered_custom_resources

    record = json.loads(CRD_RECORD.read_text())
    counts: dict[str, int] = {}
    for obj in rendered_custom_resources():
        key = f"{obj['apiVersion']}/{obj['kind']}"
        counts[key] = counts.get(key, 0) + 1
    assert {key: entry["objects"] for key, entry in record.items()} == counts
    assert all(entry["crd"] for entry in record.values())
