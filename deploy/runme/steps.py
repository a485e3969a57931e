"""The steps of RUNME.py: infra, image, secrets, bootstrap, apps, status, destroy.

Each step is idempotent: Terraform applies only a non-empty plan, an image tag already
in ECR is not rebuilt, Argo CD is upgraded only when its chart version or values
differ, manifests are applied server-side. Each step initialises Terraform itself, so
any of them works alone on a fresh clone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from runme.image import ImageBuilder
from runme.layout import (
    ARGOCD_CHART_VERSION,
    GATEWAY_NAMESPACE,
    PLATFORM_APPLICATIONS,
    ROOT_APPLICATION,
    Layout,
)
from runme.operator_secrets import check_operator_secrets
from runme.shell import Runner, StepFailed
from runme.wiring import PlatformOutputs, root_application, to_json

PLAN_HAS_CHANGES = 2  # terraform plan -detailed-exitcode
PLAN_FILE = "tfplan"


@dataclass
class Steps:
    layout: Layout
    runner: Runner
    revision: str = "main"
    repo_url: str | None = None
    _initialised: bool = False

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
        """`terraform init` once per run (every step needs the providers and the state)."""
        if self._initialised:
            return
        self.runner.run(self.terraform("init", "-input=false", f"-backend-config={self.layout.backend_config.name}"))
        self._initialised = True

    def outputs(self) -> PlatformOutputs:
        self.terraform_init()
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
        self.connect(self.outputs())
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

    def connect(self, outputs: PlatformOutputs) -> None:
        """kubeconfig for the cluster, then one cheap call that proves the API answers."""
        self.runner.run(
            [
                "aws", "eks", "update-kubeconfig",
                "--name", outputs.cluster_name,
                "--region", outputs.region,
                "--alias", self.layout.kube_context,
            ]
        )
        try:
            self.runner.run(self.kubectl("version", "--request-timeout=20s", "--output=json"), capture=True)
        except StepFailed as exc:
            raise StepFailed(f"{exc}\n{self.private_endpoint_hint(outputs)}") from exc

    def private_endpoint_hint(self, outputs: PlatformOutputs) -> str:
        tfvars = self.layout.tfvars.relative_to(self.layout.root)
        infra = f"python RUNME.py infra --env {self.layout.env}"
        if outputs.cluster_endpoint_public_access_cidrs:
            allowed = ", ".join(outputs.cluster_endpoint_public_access_cidrs)
            return (
                f"The EKS API of {outputs.cluster_name} answers only from {allowed} and from inside the VPC. "
                f"Run RUNME.py from one of those, or add your address range to "
                f"cluster_endpoint_public_access_cidrs in {tfvars} and run `{infra}`."
            )
        return (
            f"The EKS API of {outputs.cluster_name} is private "
            f"(cluster_endpoint_public_access_cidrs = [] in {tfvars}): "
            "kubectl and helm reach it only from inside the VPC (VPN, bastion, CloudShell in the VPC). "
            f"To run from here, set cluster_endpoint_public_access_cidrs = [\"<your address>/32\"] in {tfvars}, "
            f"run `{infra}`, then this step again."
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
        if not self.repo_url:
            raise StepFailed(
                "no git remote `origin` in this checkout: Argo CD pulls deploy/ from a git repository. "
                "Push this checkout and pass its URL with --repo-url (or add the remote `origin`)."
            )
        tag = ImageBuilder(self.layout, self.runner).tag()
        self.connect(outputs)
        path = self.layout.root_application_file
        document = to_json(
            root_application(self.layout, outputs, revision=self.revision, repo_url=self.repo_url, tag=tag)
        )
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
        # Every child, in sync-wave order: the platform is up only when all of them are.
        for application in PLATFORM_APPLICATIONS:
            try:
                self.runner.run(
                    self.kubectl(
                        "--namespace", "argocd", "wait", f"application/{application}",
                        "--for=jsonpath={.status.health.status}=Healthy", "--timeout=20m",
                    ),
                    capture=True,
                )
            except StepFailed as exc:
                raise StepFailed(
                    f"Argo CD application `{application}` did not become Healthy: {exc}\n"
                    f"See `kubectl --context {self.layout.kube_context} -n argocd describe application {application}`."
                ) from exc
            if not self.runner.dry_run:
                self.runner.say(f"{application}: Healthy")

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
        """Read-only: Terraform outputs, every Argo CD application, the gateway's objects."""
        self.runner.say(f"== status ({self.layout.env})")
        outputs = self.outputs()
        self.runner.run(self.terraform("output"))
        self.connect(outputs)
        self.runner.run(
            self.kubectl(
                "--namespace", "argocd", "get", "applications",
                "--output=custom-columns=NAME:.metadata.name,WAVE:.metadata.annotations.argocd\\.argoproj\\.io/sync-wave,"
                "SYNC:.status.sync.status,HEALTH:.status.health.status",
            )
        )
        self.runner.run(
            self.kubectl(
                "--namespace", GATEWAY_NAMESPACE, "get",
                "deployments,pods,hpa,pdb,externalsecrets,jobs,gateways,httproutes",
            )
        )

    # ---- image and secrets ---------------------------------------------------------
    def image(self) -> None:
        """Multi-arch gateway image into the environment's ECR repository."""
        self.runner.say("== image: docker buildx (linux/amd64, linux/arm64) to ECR")
        outputs = self.outputs()
        ImageBuilder(self.layout, self.runner).build_and_push(outputs.ecr_repository_url, outputs.region)

    def secrets(self) -> None:
        """The entries only an operator can fill (provider key, OIDC client) must be filled."""
        self.runner.say("== secrets: what the operator must fill in Secrets Manager")
        check_operator_secrets(self.runner, self.outputs(), self.layout.env)

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
        self.connect(outputs)
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
