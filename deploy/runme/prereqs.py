"""Prerequisites of each command: tools on PATH, files in place, cloud credentials."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from runme.layout import Layout

TOOLS_BY_COMMAND: dict[str, tuple[str, ...]] = {
    "all": ("terraform", "aws", "git", "docker", "kubectl", "helm"),
    "infra": ("terraform", "aws"),
    "image": ("terraform", "aws", "git", "docker"),
    "secrets": ("terraform", "aws"),
    "bootstrap": ("terraform", "aws", "kubectl", "helm"),
    "apps": ("terraform", "aws", "git", "kubectl"),
    "status": ("terraform", "aws", "kubectl"),
    "destroy": ("terraform", "aws", "kubectl", "helm"),
    "local": ("llm-gateway",),
}

NEEDS_BACKEND = {"all", "infra", "image", "secrets", "bootstrap", "apps", "status", "destroy"}
NEEDS_AWS_CREDENTIALS = NEEDS_BACKEND
# Commands that create the DNS zone's records and certificate: the zone must be a real one.
NEEDS_REAL_ZONE = {"all", "infra"}
PLACEHOLDER_ZONE_SUFFIX = ".example.com"

INSTALL_HINTS = {
    "terraform": "https://developer.hashicorp.com/terraform/install (>= 1.10)",
    "aws": "AWS CLI v2: https://docs.aws.amazon.com/cli/",
    "kubectl": "https://kubernetes.io/docs/tasks/tools/",
    "helm": "https://helm.sh/docs/intro/install/ (>= 3.13)",
    "llm-gateway": "pip install . (from the repository root)",
    "git": "https://git-scm.com/downloads",
    "docker": "Docker with buildx (https://docs.docker.com/build/) and arm64 emulation for the multi-arch build",
}


def find_tool(tool: str, layout: Layout) -> str | None:
    """The tool on PATH; for llm-gateway also the quickstart's `.venv` and this Python's own
    scripts, since the README installs it into `.venv` without activating it."""
    found = shutil.which(tool)
    if found is not None or tool != "llm-gateway":
        return found
    for candidate in (layout.root / ".venv" / "bin" / tool, Path(sys.executable).parent / tool):
        if candidate.is_file():
            return str(candidate)
    return None


def missing_prerequisites(command: str, layout: Layout) -> list[str]:
    """Every missing tool or file for `command`, each with how to get it."""
    missing = [
        f"{tool} (install: {INSTALL_HINTS[tool]})"
        for tool in TOOLS_BY_COMMAND[command]
        if find_tool(tool, layout) is None
    ]
    if command in NEEDS_BACKEND and not layout.backend_config.is_file():
        example = layout.backend_config.with_name("backend.hcl.example")
        missing.append(
            f"{_relative(layout.backend_config, layout.root)} "
            f"(Terraform remote state settings: copy {_relative(example, layout.root)} and fill it in)"
        )
    if command in NEEDS_REAL_ZONE:
        zone = tfvars_value(layout.tfvars, "dns_zone_name")
        if zone is None or zone.endswith(PLACEHOLDER_ZONE_SUFFIX) or zone == PLACEHOLDER_ZONE_SUFFIX[1:]:
            missing.append(
                f"dns_zone_name in {_relative(layout.tfvars, layout.root)} is {zone!r}: set a Route 53 zone of yours "
                "(the API and admin hostnames and the ACM certificate live in it)"
            )
    return missing


def tfvars_value(path: Path, name: str) -> str | None:
    """A string variable's value in a .tfvars file (simple `name = "value"` lines)."""
    if not path.is_file():
        return None
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == name:
            return value.strip().strip('"')
    return None


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
