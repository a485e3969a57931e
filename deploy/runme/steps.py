"""The steps of RUNME.py: infra, bootstrap, apps, status, destroy.

Each step is idempotent: Terraform applies only a non-empty plan, Argo CD is upgraded
only when its chart version or values differ, manifests are applied server-side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from runme.layout import (
    ARGOCD_CHART_VERSION,
    GATEWAY_APPLICATION,
    GATEWAY_NAMESPACE,
    ROOT_APPLICATION,
    Layout,
)
from runme.shell import Runner, StepFailed
from runme.wiring import PlatformOutputs, root_application, to_json

PLAN_HAS_CHANGES = 2  # terraform plan -detailed-exitcode
PLAN_FILE = "tfplan"


@dataclass
class Steps:
    layout: Layout
    runner: Runner
    revision: str = "main"

    # ---- helpers -------------------------------------------------------------------
    def terraform(self, *args: str) -> list[str]:
        return ["terraform", f"-chdir={self.layout.terraform_dir}", *args]

    def kubectl(self, *args: str) -> list[str]:
        return ["kubectl", "--context", self.layout.kube_context, *args]

    def check_aws_credentials(self) -> None:
        self.runner.say("== checking AWS credentials")
        try:
            self.runner.run(["aws", "sts", "get-caller-identity", "--output", "json"], capture=True)
        except StepFailed as exc:
            raise StepFailed(f"no usable AWS credentials (set AWS_PROFILE or run `aws sso login`): {exc}") from exc

    def terraform_init(self) -> None:
        self.runner.run(self.terraform("init", "-input=false", f"-backend-config={self.layout.backend_config.name}"))

    def outputs(self) -> PlatformOutputs:
        result = self.runner.run(self.terraform("output", "-json"), capture=True)
        if self.runner.dry_run:
            return PlatformOutputs.placeholders()
        try:
            return PlatformOutputs.from_terraform_json(result.stdout)
        except ValueError as exc:
            raise StepFailed(str(exc)) from exc

    # ---- infra ---------------------------------------------------------------------
    def infra(self) -> None:
        """VPC, EKS + Karpenter, RDS, Valkey, ECR, IAM, secrets (deploy/terraform)."""
        self.runner.say(f"== infra: terraform ({self.layout.env})")
        self.terraform_init()
        plan = self.runner.run(
            self.terraform("plan", "-input=false", "-detailed-exitcode", f"-out={PLAN_FILE}"),
            ok_codes=(0, PLAN_HAS_CHANGES),
            dry_run_returncode=PLAN_HAS_CHANGES,
        )
        if plan.returncode == PLAN_HAS_CHANGES:
            self.runner.run(self.terraform("apply", "-input=false", PLAN_FILE))
        else:
            self.runner.say("infrastructure is up to date: nothing to apply")

    # ---- bootstrap -----------------------------------------------------------------
    def bootstrap(self) -> None:
        """kubeconfig for the cluster, then Argo CD (which manages everything else)."""
        self.runner.say("== bootstrap: kubeconfig and Argo CD")
        outputs = self.outputs()
        self.runner.run(
            [
                "aws", "eks", "update-kubeconfig",
                "--name", outputs.cluster_name,
                "--region", outputs.region,
                "--alias", self.layout.kube_context,
            ]
        )
        if self.argocd_is_current():
            self.runner.say(f"Argo CD {ARGOCD_CHART_VERSION} is installed with the same values: nothing to do")
            return
        self.runner.run(
            [
                "helm", "upgrade", "--install", "argocd", "argo-cd",
                "--repo", "https://argoproj.github.io/argo-helm",
                "--version", ARGOCD_CHART_VERSION,
                "--namespace", "argocd", "--create-namespace",
                "--kube-context", self.layout.kube_context,
                "--values", str(self.layout.argocd_values),
                "--wait", "--timeout", "10m",
            ]
        )

    def argocd_is_current(self) -> bool:
        context = ["--namespace", "argocd", "--kube-context", self.layout.kube_context]
        listed = self.runner.run(
            ["helm", "list", "--filter", "^argocd$", "--output", "json", *context],
            capture=True,
            dry_run_stdout="[]",
        )
        releases = json.loads(listed.stdout or "[]")
        deployed = [
            r for r in releases
            if r.get("status") == "deployed" and r.get("chart") == f"argo-cd-{ARGOCD_CHART_VERSION}"
        ]
        if not deployed:
            return False
        current = self.runner.run(
            ["helm", "get", "values", "argocd", "--output", "json", *context], capture=True
        )
        wanted = json.loads(self.layout.argocd_values.read_text())
        return bool(json.loads(current.stdout or "null") == wanted)

    # ---- apps ----------------------------------------------------------------------
    def apps(self) -> None:
        """The root Application (app-of-apps) with this environment's wiring."""
        self.runner.say("== apps: root Argo CD application")
        outputs = self.outputs()
        path = self.layout.root_application_file
        document = to_json(root_application(self.layout, outputs, self.revision))
        if self.runner.dry_run:
            self.runner.say(f"[dry-run] would write {path}")
        else:
            self.write_generated(document)
        self.runner.run(
            self.kubectl("apply", "--server-side", "--field-manager=runme", "-f", str(path))
        )
        self.runner.run(
            self.kubectl(
                "--namespace", "argocd", "wait", f"application/{ROOT_APPLICATION}",
                "--for=jsonpath={.status.sync.status}=Synced", "--timeout=15m",
            )
        )
        self.runner.run(
            self.kubectl(
                "--namespace", "argocd", "wait", f"application/{GATEWAY_APPLICATION}",
                "--for=jsonpath={.status.health.status}=Healthy", "--timeout=20m",
            )
        )

    def write_generated(self, document: str) -> None:
        directory = self.layout.generated_dir
        directory.mkdir(parents=True, exist_ok=True)
        ignore = directory.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n")
        path = self.layout.root_application_file
        if path.is_file() and path.read_text() == document:
            self.runner.say(f"{path} is unchanged")
            return
        path.write_text(document)
        self.runner.say(f"wrote {path}")

    # ---- status --------------------------------------------------------------------
    def status(self) -> None:
        self.runner.say(f"== status ({self.layout.env})")
        self.runner.run(self.terraform("output"))
        self.runner.run(self.kubectl("--namespace", "argocd", "get", "applications"))
        self.runner.run(
            self.kubectl(
                "--namespace", GATEWAY_NAMESPACE, "get",
                "deployments,pods,hpa,pdb,externalsecrets,jobs",
            )
        )

    # ---- destroy -------------------------------------------------------------------
    def destroy(self) -> None:
        """Apps first (their load balancers and volumes live in the VPC), then Terraform."""
        self.runner.say(f"== destroy ({self.layout.env})")
        self.terraform_init()
        try:
            outputs = self.outputs()
        except StepFailed as exc:
            self.runner.say(f"no cluster to empty first ({exc}); going straight to terraform destroy")
        else:
            self.remove_apps(outputs)
        self.runner.run(self.terraform("destroy", "-input=false", "-auto-approve"))

    def remove_apps(self, outputs: PlatformOutputs) -> None:
        self.runner.run(
            [
                "aws", "eks", "update-kubeconfig",
                "--name", outputs.cluster_name,
                "--region", outputs.region,
                "--alias", self.layout.kube_context,
            ]
        )
        self.runner.run(
            self.kubectl(
                "--namespace", "argocd", "delete", f"application/{ROOT_APPLICATION}",
                "--ignore-not-found", "--wait", "--timeout=20m",
            )
        )
        self.runner.run(
            [
                "helm", "uninstall", "argocd", "--namespace", "argocd",
                "--kube-context", self.layout.kube_context, "--ignore-not-found", "--wait",
            ]
        )
