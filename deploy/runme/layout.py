"""Where things live in the repository, for one environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ARGOCD_CHART_VERSION = "8.1.2"
ROOT_APPLICATION = "platform"
GATEWAY_APPLICATION = "llm-gateway"
GATEWAY_NAMESPACE = "llm-gateway"
DEFAULT_REPO_URL = "https://github.com/example/llm-gateway.git"


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
    def argocd_values(self) -> Path:
        return self.root / "deploy" / "argocd" / "bootstrap" / "argocd-values.json"

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

    def repo_url(self) -> str:
        """The origin remote of this checkout (Argo CD pulls the charts from it)."""
        config = self.root / ".git" / "config"
        if config.is_file():
            in_origin = False
            for line in config.read_text().splitlines():
                stripped = line.strip()
                if stripped.startswith("["):
                    in_origin = stripped == '[remote "origin"]'
                elif in_origin and stripped.startswith("url"):
                    return stripped.split("=", 1)[1].strip()
        return DEFAULT_REPO_URL
