"""Where things live in the repository, for one environment, and the names RUNME.py waits on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ARGOCD_CHART_VERSION = "8.1.2"
ROOT_APPLICATION = "platform"
GATEWAY_APPLICATION = "llm-gateway"
GATEWAY_NAMESPACE = "llm-gateway"

# Every child Application of deploy/argocd/platform, in sync-wave order: `apps` waits
# until each one is Healthy (tests/deploy checks this list against the rendered platform).
PLATFORM_APPLICATIONS = (
    "gateway-api-crds",
    "metrics-server",
    "aws-load-balancer-controller",
    "external-dns",
    "external-secrets",
    "karpenter",
    "kyverno",
    "kube-prometheus-stack",
    "cluster-config",
    "platform-policies",
    "loki",
    "tempo",
    "opentelemetry-collector",
    GATEWAY_APPLICATION,
)

# The gateway image is built for these platforms; every Karpenter node pool's
# architectures must be among them (tests/deploy checks it).
IMAGE_PLATFORMS = ("linux/amd64", "linux/arm64")


@dataclass(frozen=True)
class Layout:
    root: Path
    env: str

    @property
    def terraform_dir(self) -> Path:
        return self.root / "deploy" / "terraform" / "environments" / self.env

    @property
    def backend_config(self) -> Path:
        return self.terraform_dir / "backend.hcl"

    @property
    def tfvars(self) -> Path:
        return self.terraform_dir / "terraform.tfvars"

    @property
    def argocd_values(self) -> Path:
        return self.root / "deploy" / "argocd" / "bootstrap" / "argocd-values.json"

    @property
    def chart_file(self) -> Path:
        return self.root / "deploy" / "helm" / "llm-gateway" / "Chart.yaml"

    @property
    def generated_dir(self) -> Path:
        """Files RUNME.py writes (kept out of git by their own .gitignore)."""
        return self.root / "deploy" / ".runme" / self.env

    @property
    def root_application_file(self) -> Path:
        return self.generated_dir / "root-application.json"

    @property
    def kube_context(self) -> str:
        return f"llm-gateway-{self.env}"

    def chart_app_version(self) -> str:
        """appVersion of the gateway chart: the first part of every image tag."""
        for line in self.chart_file.read_text().splitlines():
            if line.startswith("appVersion:"):
                return line.split(":", 1)[1].strip().strip("\"'")
        raise ValueError(f"{self.chart_file} has no appVersion")

    def repo_url(self) -> str | None:
        """The origin remote of this checkout (Argo CD pulls the charts from it), or None."""
        config = self.root / ".git" / "config"
        if not config.is_file():
            # A git worktree: .git is a file naming the real git directory.
            pointer = self.root / ".git"
            if pointer.is_file() and pointer.read_text().startswith("gitdir:"):
                gitdir = Path(pointer.read_text().split(":", 1)[1].strip())
                config = (gitdir / ".." / ".." / "config").resolve()
        if config.is_file():
            in_origin = False
            for line in config.read_text().splitlines():
                stripped = line.strip()
                if stripped.startswith("["):
                    in_origin = stripped == '[remote "origin"]'
                elif in_origin and stripped.startswith("url"):
                    return stripped.split("=", 1)[1].strip()
        return None
