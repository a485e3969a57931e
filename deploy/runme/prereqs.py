"""Prerequisites of each command: tools on PATH, files in place, cloud credentials."""

from __future__ import annotations

import shutil
from pathlib import Path

from runme.layout import Layout

TOOLS_BY_COMMAND: dict[str, tuple[str, ...]] = {
    "all": ("terraform", "aws", "kubectl", "helm"),
    "infra": ("terraform", "aws"),
    "bootstrap": ("terraform", "aws", "kubectl", "helm"),
    "apps": ("terraform", "aws", "kubectl"),
    "status": ("terraform", "kubectl"),
    "destroy": ("terraform", "aws", "kubectl", "helm"),
    "local": ("llm-gateway",),
}

NEEDS_BACKEND = {"all", "infra", "bootstrap", "apps", "status", "destroy"}
NEEDS_AWS_CREDENTIALS = {"all", "infra", "bootstrap", "apps", "destroy"}

INSTALL_HINTS = {
    "terraform": "https://developer.hashicorp.com/terraform/install (>= 1.10)",
    "aws": "AWS CLI v2: https://docs.aws.amazon.com/cli/",
    "kubectl": "https://kubernetes.io/docs/tasks/tools/",
    "helm": "https://helm.sh/docs/intro/install/ (>= 3.13)",
    "llm-gateway": "pip install . (from the repository root)",
}


def missing_prerequisites(command: str, layout: Layout) -> list[str]:
    """Every missing tool or file for `command`, each with how to get it."""
    missing = [
        f"{tool} (install: {INSTALL_HINTS[tool]})"
        for tool in TOOLS_BY_COMMAND[command]
        if shutil.which(tool) is None
    ]
    if command in NEEDS_BACKEND and not layout.backend_config.is_file():
        example = layout.backend_config.with_name("backend.hcl.example")
        missing.append(
            f"{_relative(layout.backend_config, layout.root)} "
            f"(Terraform remote state settings: copy {_relative(example, layout.root)} and fill it in)"
        )
    return missing


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
