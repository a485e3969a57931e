"""RUNME.py with stand-in executables on PATH that record their arguments: `all` calls
them in order with the right arguments, a second `all` changes nothing, the first
failure stops the run with a clear message, --dry-run runs nothing, and missing
prerequisites are named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runme.layout import ARGOCD_CHART_VERSION

from tests.deploy.runme_sandbox import RunmeSandbox, fake_terraform_outputs

TF = "terraform -chdir=<root>/deploy/terraform/environments/dev"
KUBECTL = "kubectl --context llm-gateway-dev"
ROOT_APP_FILE = "<root>/deploy/.runme/dev/root-application.json"

FIRST_ALL = [
    "aws sts get-caller-identity --output json",
    f"{TF} init -input=false -backend-config=backend.hcl",
    f"{TF} plan -input=false -detailed-exitcode -out=tfplan",
    f"{TF} apply -input=false tfplan",
    f"{TF} output -json",
    "aws eks update-kubeconfig --name llm-gateway-dev --region us-east-1 --alias llm-gateway-dev",
    "helm list --filter ^argocd$ --output json --namespace argocd --kube-context llm-gateway-dev",
    "helm upgrade --install argocd argo-cd --repo https://argoproj.github.io/argo-helm"
    f" --version {ARGOCD_CHART_VERSION} --namespace argocd --create-namespace --kube-context llm-gateway-dev"
    " --values <root>/deploy/argocd/bootstrap/argocd-values.json --wait --timeout 10m",
    f"{TF} output -json",
    f"{KUBECTL} apply --server-side --field-manager=runme -f {ROOT_APP_FILE}",
    f"{KUBECTL} --namespace argocd wait application/platform"
    " --for=jsonpath={.status.sync.status}=Synced --timeout=15m",
    f"{KUBECTL} --namespace argocd wait application/llm-gateway"
    " --for=jsonpath={.status.health.status}=Healthy --timeout=20m",
]


@pytest.fixture
def sandbox(tmp_path: Path) -> RunmeSandbox:
    box = RunmeSandbox(tmp_path)
    box.add_backend()
    return box


def root_application(sandbox: RunmeSandbox) -> dict[str, object]:
    path = sandbox.root / "deploy" / ".runme" / "dev" / "root-application.json"
    loaded: dict[str, object] = json.loads(path.read_text())
    return loaded


def test_all_calls_every_tool_in_order(sandbox: RunmeSandbox) -> None:
    sandbox.healthy_platform()
    done = sandbox.run("all")
    assert done.returncode == 0, done.stderr
    assert sandbox.commands() == FIRST_ALL
    values = root_application(sandbox)["spec"]["source"]["helm"]["valuesObject"]  # type: ignore[index]
    gateway = values["gateway"]["values"]
    assert gateway["serviceAccount"]["roleArn"] == "arn:aws:iam::123456789012:role/llm-gateway-dev-gateway"
    assert gateway["database"]["host"] == "llm-gateway-dev.abc.us-east-1.rds.amazonaws.com"
    assert gateway["redis"] == {
        "host": "clustercfg.llm-gateway-dev.abc.use1.cache.amazonaws.com",
        "port": 6379,
        "tls": True,
    }
    assert gateway["externalSecret"]["database"]["key"].endswith(":secret:rds!db-1234-AbCdEf")
    assert values["externalSecrets"]["roleArn"].endswith("llm-gateway-dev-external-secrets")
    assert values["karpenter"]["interruptionQueue"] == "Karpenter-llm-gateway-dev"
    assert gateway["networkPolicy"] == {"adminFromCIDRs": ["10.10.0.0/16"]}
    assert values["loadBalancerController"]["vpcId"] == "vpc-0123456789abcdef0"
    assert values["gateway"]["valueFiles"] == ["values.yaml"]  # dev: no values-prod.yaml


def test_second_all_changes_nothing(sandbox: RunmeSandbox) -> None:
    sandbox.healthy_platform()
    assert sandbox.run("all").returncode == 0
    written = root_application(sandbox)

    sandbox.clear_responses()
    argocd_values = (sandbox.root / "deploy" / "argocd" / "bootstrap" / "argocd-values.json").read_text()
    sandbox.respond("terraform", ["plan", "-detailed-exitcode"], rc=0)  # no changes
    sandbox.respond(
        "helm", ["list"], stdout=json.dumps([{"status": "deployed", "chart": f"argo-cd-{ARGOCD_CHART_VERSION}"}])
    )
    sandbox.respond("helm", ["get", "values"], stdout=argocd_values)
    sandbox.respond("terraform", ["output", "-json"], stdout=json.dumps(fake_terraform_outputs()))
    done = sandbox.run("all")

    assert done.returncode == 0, done.stderr
    commands = sandbox.commands()
    assert not [c for c in commands if " apply -input=false tfplan" in c or c.startswith("helm upgrade")]
    assert "infrastructure is up to date" in done.stdout
    assert "same values: nothing to do" in done.stdout
    assert "root-application.json is unchanged" in done.stdout
    assert root_application(sandbox) == written
    # The root Application is still applied server-side: a no-op for identical content.
    assert f"{KUBECTL} apply --server-side --field-manager=runme -f {ROOT_APP_FILE}" in commands


def test_stops_at_the_first_failure(sandbox: RunmeSandbox) -> None:
    sandbox.respond("helm", ["upgrade"], rc=1, stderr="Error: INSTALLATION FAILED: timed out\n")
    sandbox.healthy_platform()
    done = sandbox.run("all")
    assert done.returncode == 1
    assert "step `bootstrap` failed" in done.stderr
    assert "helm upgrade --install argocd" in done.stderr and "exited with 1" in done.stderr
    assert "python RUNME.py all --env dev" in done.stderr
    commands = sandbox.commands()
    assert commands[-1].startswith("helm upgrade --install argocd")
    assert not [c for c in commands if c.startswith("kubectl")]


def test_terraform_failure_stops_before_the_cluster(sandbox: RunmeSandbox) -> None:
    sandbox.respond("terraform", ["plan", "-detailed-exitcode"], rc=1, stderr="Error: No valid credential sources\n")
    sandbox.healthy_platform()
    done = sandbox.run("all")
    assert done.returncode == 1 and "step `infra` failed" in done.stderr
    assert sandbox.commands()[-1].startswith(f"{TF} plan")


def test_dry_run_runs_nothing_and_prints_every_command(sandbox: RunmeSandbox) -> None:
    done = sandbox.run("all", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert sandbox.calls() == []
    assert not (sandbox.root / "deploy" / ".runme").exists()
    printed = [line.removeprefix("[dry-run] ") for line in done.stdout.splitlines() if line.startswith("[dry-run] ")]
    tools = [line.split()[0] for line in printed if line.split()[0] in {"terraform", "aws", "kubectl", "helm"}]
    assert tools == [command.split()[0] for command in FIRST_ALL]
    assert any("apply -input=false tfplan" in line for line in printed)
    assert "nothing was run" in done.stdout


def test_missing_prerequisites_are_named(tmp_path: Path) -> None:
    sandbox = RunmeSandbox(tmp_path, tools=["terraform", "aws"])  # no kubectl, no helm, no backend.hcl
    done = sandbox.run("all")
    assert done.returncode == 2
    assert "missing prerequisites for `all`" in done.stderr
    assert "kubectl (install:" in done.stderr and "helm (install:" in done.stderr
    assert "deploy/terraform/environments/dev/backend.hcl" in done.stderr
    assert "terraform (install" not in done.stderr
    assert sandbox.calls() == []


def test_missing_credentials_are_named(sandbox: RunmeSandbox) -> None:
    sandbox.respond("aws", ["sts"], rc=255, stderr="Unable to locate credentials\n")
    done = sandbox.run("infra")
    assert done.returncode == 1
    assert "no usable AWS credentials" in done.stderr and "Unable to locate credentials" in done.stderr
    assert sandbox.commands() == ["aws sts get-caller-identity --output json"]


def test_prod_uses_its_own_state_and_values(tmp_path: Path) -> None:
    sandbox = RunmeSandbox(tmp_path)
    sandbox.add_backend("prod")
    sandbox.healthy_platform(fake_terraform_outputs(cluster_name="llm-gateway-prod"))
    done = sandbox.run("apps", "--env", "prod")
    assert done.returncode == 0, done.stderr
    assert sandbox.commands()[1] == "terraform -chdir=<root>/deploy/terraform/environments/prod output -json"
    app = json.loads((tmp_path / "deploy" / ".runme" / "prod" / "root-application.json").read_text())
    helm_values = app["spec"]["source"]["helm"]["valuesObject"]
    assert helm_values["gateway"]["valueFiles"] == ["values.yaml", "values-prod.yaml"]
    assert helm_values["environment"] == "prod"


def test_destroy_asks_first(sandbox: RunmeSandbox) -> None:
    done = sandbox.run("destroy")
    assert done.returncode == 1 and "destroy needs --yes" in done.stderr
    assert sandbox.calls() == []


def test_destroy_removes_apps_before_infrastructure(sandbox: RunmeSandbox) -> None:
    sandbox.healthy_platform()
    done = sandbox.run("destroy", "--yes")
    assert done.returncode == 0, done.stderr
    assert sandbox.commands() == [
        "aws sts get-caller-identity --output json",
        f"{TF} init -input=false -backend-config=backend.hcl",
        f"{TF} output -json",
        "aws eks update-kubeconfig --name llm-gateway-dev --region us-east-1 --alias llm-gateway-dev",
        f"{KUBECTL} --namespace argocd delete application/platform --ignore-not-found --wait --timeout=20m",
        "helm uninstall argocd --namespace argocd --kube-context llm-gateway-dev --ignore-not-found --wait",
        f"{TF} destroy -input=false -auto-approve",
    ]


def test_status_reads_without_changing(sandbox: RunmeSandbox) -> None:
    done = sandbox.run("status")
    assert done.returncode == 0, done.stderr
    assert sandbox.commands() == [
        f"{TF} output",
        f"{KUBECTL} --namespace argocd get applications",
        f"{KUBECTL} --namespace llm-gateway get deployments,pods,hpa,pdb,externalsecrets,jobs",
    ]


def test_outputs_missing_after_a_failed_infra_are_named(sandbox: RunmeSandbox) -> None:
    sandbox.respond("terraform", ["output", "-json"], stdout="{}")
    sandbox.healthy_platform()
    done = sandbox.run("apps")
    assert done.returncode == 1
    assert "Terraform outputs missing" in done.stderr and "gateway_role_arn" in done.stderr
