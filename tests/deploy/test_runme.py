"""RUNME.py with stand-in executables on PATH that record their arguments: `all` calls
them in order with the right arguments, a second `all` changes nothing, the first
failure stops the run with a clear message, --dry-run runs nothing, and missing
prerequisites are named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runme.layout import ARGOCD_CHART_VERSION, PLATFORM_APPLICATIONS

from tests.deploy.runme_sandbox import GIT_SHA, REPO_URL, RunmeSandbox, fake_terraform_outputs

TF = "terraform -chdir=<root>/deploy/terraform/environments/dev"
KUBECTL = "kubectl --context llm-gateway-dev"
ROOT_APP_FILE = "<root>/deploy/.runme/dev/root-application.json"
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com/llm-gateway-dev"
TAG = "0.1.0-" + GIT_SHA[:12]
KUBECONFIG = "aws eks update-kubeconfig --name llm-gateway-dev --region us-east-1 --alias llm-gateway-dev"
REACHABLE = f"{KUBECTL} version --request-timeout=20s --output=json"


def get_secret(name: str) -> str:
    return (
        f"aws secretsmanager get-secret-value --region us-east-1 --secret-id {name}"
        " --query SecretString --output text"
    )


FIRST_ALL = [
    "aws sts get-caller-identity --output json",
    f"{TF} init -input=false -backend-config=backend.hcl",
    f"{TF} plan -input=false -detailed-exitcode -out=tfplan",
    f"{TF} apply -input=false tfplan",
    # image
    f"{TF} output -json",
    "git -C <root> rev-parse HEAD",
    "git -C <root> status --porcelain -- Dockerfile .dockerignore pyproject.toml README.md gateway providers migrations",
    f"aws ecr describe-images --region us-east-1 --repository-name llm-gateway-dev --image-ids imageTag={TAG}",
    "aws ecr get-login-password --region us-east-1",
    "docker login --username AWS --password-stdin 123456789012.dkr.ecr.us-east-1.amazonaws.com",
    "docker buildx inspect llm-gateway",
    "docker buildx create --name llm-gateway --driver docker-container",
    "docker buildx build --builder llm-gateway --platform linux/amd64,linux/arm64"
    f" --tag {ECR}:{TAG} --provenance=false --push <root>",
    # secrets
    f"{TF} output -json",
    get_secret("llm-gateway/dev/openai"),
    get_secret("llm-gateway/dev/oidc"),
    # bootstrap
    f"{TF} output -json",
    KUBECONFIG,
    REACHABLE,
    "helm list --filter ^argocd$ --output json --namespace argocd --kube-context llm-gateway-dev",
    "helm upgrade --install argocd argo-cd --repo https://argoproj.github.io/argo-helm"
    f" --version {ARGOCD_CHART_VERSION} --namespace argocd --create-namespace --kube-context llm-gateway-dev"
    " --values <root>/deploy/argocd/bootstrap/argocd-values.json --wait --timeout 10m",
    # apps
    f"{TF} output -json",
    "git -C <root> rev-parse HEAD",
    KUBECONFIG,
    REACHABLE,
    f"{KUBECTL} apply --server-side --field-manager=runme -f {ROOT_APP_FILE}",
    f"{KUBECTL} --namespace argocd wait application/platform"
    " --for=jsonpath={.status.sync.status}=Synced --timeout=15m",
    *[
        f"{KUBECTL} --namespace argocd wait application/{name}"
        " --for=jsonpath={.status.health.status}=Healthy --timeout=20m"
        for name in PLATFORM_APPLICATIONS
    ],
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
    assert gateway["database"]["host"] == "llm-gateway-dev.cluster-abc.us-east-1.rds.amazonaws.com"
    assert gateway["image"] == {"repository": ECR, "tag": TAG}
    assert gateway["gatewayApi"]["publicHostname"] == "api.dev.llm.acme.dev"
    assert gateway["gatewayApi"]["certificateArn"].startswith("arn:aws:acm:")
    assert gateway["admin"]["oidc"]["key"] == "llm-gateway/dev/oidc"
    assert values["repoURL"] == REPO_URL and values["externalDns"]["domain"] == "dev.llm.acme.dev"
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
    sandbox.respond("aws", ["ecr", "describe-images"], stdout='{"imageDetails": [{}]}')  # the tag is there
    sandbox.healthy_platform()
    done = sandbox.run("all")

    assert done.returncode == 0, done.stderr
    commands = sandbox.commands()
    assert not [c for c in commands if " apply -input=false tfplan" in c or c.startswith("helm upgrade")]
    assert not [c for c in commands if c.startswith("docker")]
    assert "is already in ECR: nothing to build" in done.stdout
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
    assert [c for c in commands if c.startswith("kubectl")] == [REACHABLE]  # nothing applied


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
    tools = [line.split()[0] for line in printed if line.split()[0] in {"terraform", "aws", "kubectl", "helm", "git", "docker"}]
    # A dry run cannot know whether the buildx builder exists: it shows the build itself.
    assert tools == [command.split()[0] for command in FIRST_ALL if "buildx create" not in command]
    assert any("apply -input=false tfplan" in line for line in printed)
    assert "nothing was run" in done.stdout


def test_missing_prerequisites_are_named(tmp_path: Path) -> None:
    # No kubectl, helm, git or docker; no backend.hcl, the example zone, no git remote.
    sandbox = RunmeSandbox(tmp_path, tools=["terraform", "aws"])
    done = sandbox.run("all")
    assert done.returncode == 2
    assert "missing prerequisites for `all`" in done.stderr
    assert "kubectl (install:" in done.stderr and "helm (install:" in done.stderr
    assert "docker (install:" in done.stderr and "git (install:" in done.stderr
    assert "deploy/terraform/environments/dev/backend.hcl" in done.stderr
    assert "dns_zone_name in deploy/terraform/environments/dev/terraform.tfvars is 'dev.llm.example.com'" in done.stderr
    assert "a git remote `origin`" in done.stderr and "--repo-url" in done.stderr
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
    assert sandbox.commands()[1:3] == [
        "terraform -chdir=<root>/deploy/terraform/environments/prod init -input=false -backend-config=backend.hcl",
        "terraform -chdir=<root>/deploy/terraform/environments/prod output -json",
    ]
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
        KUBECONFIG,
        REACHABLE,
        f"{KUBECTL} --namespace argocd delete application/platform --ignore-not-found --wait --timeout=20m",
        "helm uninstall argocd --namespace argocd --kube-context llm-gateway-dev --ignore-not-found --wait",
        f"{TF} destroy -input=false -auto-approve",
    ]


def test_status_works_alone_on_a_fresh_clone(sandbox: RunmeSandbox) -> None:
    """No earlier step ran here: status initialises Terraform and writes the kubeconfig itself."""
    sandbox.healthy_platform()
    done = sandbox.run("status")
    assert done.returncode == 0, done.stderr
    commands = sandbox.commands()
    assert commands[:6] == [
        "aws sts get-caller-identity --output json",
        f"{TF} init -input=false -backend-config=backend.hcl",
        f"{TF} output -json",
        f"{TF} output",
        KUBECONFIG,
        REACHABLE,
    ]
    assert commands[6].startswith(f"{KUBECTL} --namespace argocd get applications")
    assert "HEALTH:.status.health.status" in commands[6]
    assert commands[7].startswith(f"{KUBECTL} --namespace llm-gateway get deployments,")
    assert not [c for c in commands if " apply" in c or "upgrade" in c or "delete" in c]


@pytest.mark.parametrize("command", ["bootstrap", "apps"])
def test_every_cluster_step_initialises_terraform(sandbox: RunmeSandbox, command: str) -> None:
    sandbox.healthy_platform()
    done = sandbox.run(command)
    assert done.returncode == 0, done.stderr
    commands = sandbox.commands()
    assert commands.index(f"{TF} init -input=false -backend-config=backend.hcl") < commands.index(f"{TF} output -json")


def test_private_endpoint_is_named_with_its_fix(sandbox: RunmeSandbox) -> None:
    sandbox.respond("kubectl", ["version"], rc=1, stderr="dial tcp 10.10.1.5:443: i/o timeout\n")
    sandbox.healthy_platform()
    done = sandbox.run("bootstrap")
    assert done.returncode == 1
    assert "is private (cluster_endpoint_public_access_cidrs = []" in done.stderr
    assert "deploy/terraform/environments/dev/terraform.tfvars" in done.stderr
    assert "python RUNME.py infra --env dev" in done.stderr and "i/o timeout" in done.stderr
    assert not [c for c in sandbox.commands() if c.startswith("helm")]


def test_success_needs_every_application_healthy(sandbox: RunmeSandbox) -> None:
    """Not only the gateway: a platform app that never turns Healthy fails `apps`, by name."""
    sandbox.respond("kubectl", ["wait", "application/loki"], rc=1, stderr="error: timed out waiting\n")
    sandbox.healthy_platform()
    done = sandbox.run("apps")
    assert done.returncode == 1
    assert "Argo CD application `loki` did not become Healthy" in done.stderr
    assert "describe application loki" in done.stderr
    waited = [c.split("application/")[1].split()[0] for c in sandbox.commands() if " wait application/" in c]
    assert waited[-1] == "loki" and "llm-gateway" not in waited


def test_secrets_step_names_what_to_fill(tmp_path: Path) -> None:
    sandbox = RunmeSandbox(tmp_path)
    sandbox.add_backend("prod")
    prod = {"openai_secret_name": "llm-gateway/prod/openai", "oidc_secret_name": "llm-gateway/prod/oidc"}
    sandbox.respond("aws", ["get-secret-value", "llm-gateway/prod/openai"], rc=254, stderr="ResourceNotFoundException\n")
    sandbox.respond("aws", ["get-secret-value", "llm-gateway/prod/oidc"], stdout='{"issuer": "https://id", "client_id": ""}')
    sandbox.healthy_platform(fake_terraform_outputs(**prod))
    done = sandbox.run("all", "--env", "prod")
    assert done.returncode == 1 and "step `secrets` failed" in done.stderr
    assert "llm-gateway/prod/openai (OpenAI API key of the gateway): missing api_key" in done.stderr
    assert "llm-gateway/prod/oidc" in done.stderr and "missing client_id, client_secret, roles_claim" in done.stderr
    assert "aws secretsmanager put-secret-value --region us-east-1 --secret-id llm-gateway/prod/openai" in done.stderr
    assert "https://id" not in done.stderr + done.stdout  # values are never printed
    assert not [c for c in sandbox.commands() if c.startswith(("helm", "kubectl"))]


def test_dev_runs_without_the_oidc_client(sandbox: RunmeSandbox) -> None:
    """The admin Deployment (OIDC login) is on in prod only: in dev a missing OIDC entry is reported, not fatal."""
    sandbox.respond("aws", ["get-secret-value", "llm-gateway/dev/oidc"], rc=254, stderr="ResourceNotFoundException\n")
    sandbox.healthy_platform()
    done = sandbox.run("secrets")
    assert done.returncode == 0, done.stderr
    assert "llm-gateway/dev/oidc (OIDC client of the admin console (single sign-on)) is not filled" in done.stdout


def test_secret_values_never_reach_the_output(sandbox: RunmeSandbox) -> None:
    sandbox.healthy_platform()
    done = sandbox.run("all")
    assert done.returncode == 0, done.stderr
    for secret in ("sk-test-not-for-logs", "oidc-not-for-logs", "ecr-password-not-for-logs"):
        assert secret not in done.stdout + done.stderr
    login = next(c for c in sandbox.calls() if c["tool"] == "docker" and c["argv"][0] == "login")
    assert login["stdin"] == "ecr-password-not-for-logs" and "ecr-password-not-for-logs" not in login["argv"]


def test_no_origin_no_silent_fallback(tmp_path: Path) -> None:
    sandbox = RunmeSandbox(tmp_path)
    sandbox.add_backend()
    (sandbox.root / ".git" / "config").write_text("[core]\n\tbare = false\n")
    sandbox.healthy_platform()
    assert sandbox.run("apps").returncode == 2
    done = sandbox.run("apps", "--repo-url", "https://git.acme.dev/other.git")
    assert done.returncode == 0, done.stderr
    app = json.loads((tmp_path / "deploy" / ".runme" / "dev" / "root-application.json").read_text())
    assert app["spec"]["source"]["repoURL"] == "https://git.acme.dev/other.git"


def test_outputs_missing_after_a_failed_infra_are_named(sandbox: RunmeSandbox) -> None:
    sandbox.respond("terraform", ["output", "-json"], stdout="{}")
    sandbox.healthy_platform()
    done = sandbox.run("apps")
    assert done.returncode == 1
    assert "Terraform outputs missing" in done.stderr and "gateway_role_arn" in done.stderr


def test_dry_run_on_a_fresh_clone_prints_the_whole_plan(tmp_path: Path) -> None:
    """No backend.hcl, the example zone, no remote, no tools: the plan still prints in
    full (image, secrets, every app), with what a real run would need listed first."""
    sandbox = RunmeSandbox(tmp_path, tools=[])
    done = sandbox.run("all", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert sandbox.calls() == []
    out = done.stdout
    assert out.index("missing prerequisites (a real run would stop here)") < out.index("== infra")
    for step in ("== infra", "== image", "== secrets", "== bootstrap", "== apps"):
        assert step in out
    assert "docker buildx build --builder llm-gateway --platform linux/amd64,linux/arm64" in out
    assert "llm-gateway/oidc" not in out and "must hold issuer, client_id, client_secret, roles_claim" in out
    for name in PLATFORM_APPLICATIONS:
        assert f"wait application/{name} " in out


def test_image_refuses_uncommitted_sources(sandbox: RunmeSandbox) -> None:
    """The tag names a commit: an image built from a dirty tree would lie."""
    sandbox.respond("git", ["status", "--porcelain"], stdout=" M gateway/app.py\n")
    sandbox.healthy_platform()
    done = sandbox.run("image")
    assert done.returncode == 1
    assert "uncommitted changes in what the image is built from (gateway/app.py)" in done.stderr
    assert not [c for c in sandbox.commands() if c.startswith("docker")]


def test_local_finds_the_gateway_the_quickstart_installed_into_dot_venv(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The README installs llm-gateway into .venv without activating it: `RUNME.py local`
    must not call it missing (it did: "missing: llm-gateway (install: pip install .)")."""
    from runme.layout import Layout
    from runme.prereqs import find_tool, missing_prerequisites

    script = tmp_path / ".venv" / "bin" / "llm-gateway"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr("sys.executable", str(tmp_path / "elsewhere" / "python3"))
    layout = Layout(root=tmp_path, env="dev")
    assert find_tool("llm-gateway", layout) == str(script)
    assert missing_prerequisites("local", layout) == []
