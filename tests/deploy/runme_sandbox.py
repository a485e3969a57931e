"""A copy of RUNME.py and deploy/ in a temporary directory, with stand-in tools on a
PATH that holds nothing else, so RUNME.py runs for real without touching the cloud."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.deploy.deploy_helpers import REPO_ROOT
from tests.deploy.standin import install

PLATFORM_TOOLS = ["terraform", "aws", "kubectl", "helm", "git", "docker"]
SECRET_VALUES = {
    "llm-gateway/dev/openai": '{"api_key": "sk-test-not-for-logs"}',
    "llm-gateway/dev/oidc": '{"issuer": "https://id.acme.dev/", "client_id": "gw", "client_secret": "oidc-not-for-logs", '
    '"roles_claim": "roles"}',
}


def fake_terraform_outputs(**overrides: Any) -> dict[str, Any]:
    """`terraform output -json` of an applied environment."""
    values: dict[str, Any] = {
        "region": "us-east-1",
        "cluster_name": "llm-gateway-dev",
        "cluster_endpoint": "https://ABC.gr7.us-east-1.eks.amazonaws.com",
        "cluster_endpoint_public_access_cidrs": [],
        "gateway_role_arn": "arn:aws:iam::123456789012:role/llm-gateway-dev-gateway",
        "external_secrets_role_arn": "arn:aws:iam::123456789012:role/llm-gateway-dev-external-secrets",
        "database_host": "llm-gateway-dev.cluster-abc.us-east-1.rds.amazonaws.com",
        "database_port": 5432,
        "database_name": "llm_gateway",
        "database_username": "llm_gateway",
        "database_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1234-AbCdEf",
        "redis_host": "clustercfg.llm-gateway-dev.abc.use1.cache.amazonaws.com",
        "redis_port": 6379,
        "redis_secret_name": "llm-gateway/dev/redis",
        "admin_secret_name": "llm-gateway/dev/admin",
        "openai_secret_name": "llm-gateway/dev/openai",
        "oidc_secret_name": "llm-gateway/dev/oidc",
        "ecr_repository_url": "123456789012.dkr.ecr.us-east-1.amazonaws.com/llm-gateway-dev",
        "karpenter_queue_name": "Karpenter-llm-gateway-dev",
        "karpenter_node_role_name": "llm-gateway-dev-karpenter-node",
        "vpc_id": "vpc-0123456789abcdef0",
        "vpc_cidr": "10.10.0.0/16",
        "load_balancer_controller_role_arn": "arn:aws:iam::123456789012:role/llm-gateway-dev-load-balancer-controller",
        "public_hostname": "api.dev.llm.acme.dev",
        "admin_hostname": "admin.dev.llm.acme.dev",
        "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/0d2b7c1e-1111-2222-3333-444455556666",
        "waf_web_acl_arn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/llm-gateway-dev/abcd-1234",
        "dns_zone_name": "dev.llm.acme.dev",
        "dns_zone_id": "Z0123456789ABCDEFGHIJ",
        "dns_zone_name_servers": [],
        "external_dns_role_arn": "arn:aws:iam::123456789012:role/llm-gateway-dev-external-dns",
    }
    values.update(overrides)
    sensitive = {"database_username"}
    return {
        name: {"sensitive": name in sensitive, "type": terraform_type(v), "value": v}
        for name, v in values.items()
    }


def terraform_type(value: Any) -> Any:
    if isinstance(value, list):
        return ["list", "string"]
    return "number" if isinstance(value, int) else "string"


GIT_SHA = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
REPO_URL = "https://git.acme.dev/platform/llm-gateway.git"


@dataclass
class RunmeSandbox:
    root: Path
    tools: list[str] = field(default_factory=lambda: list(PLATFORM_TOOLS))
    responses: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        shutil.copy2(REPO_ROOT / "RUNME.py", self.root / "RUNME.py")
        shutil.copytree(
            REPO_ROOT / "deploy",
            self.root / "deploy",
            symlinks=True,
            ignore=shutil.ignore_patterns(".runme", "__pycache__"),
        )
        self.bin = self.root / "standin-bin"
        self.log = self.root / "standin.log"
        self.responses_file = self.root / "standin-responses.json"
        install(self.bin, self.tools)

    def env_dir(self, env: str = "dev") -> Path:
        return self.root / "deploy" / "terraform" / "environments" / env

    def add_backend(self, env: str = "dev") -> None:
        """What an operator does first: the state settings, a real zone, the git remote."""
        (self.env_dir(env) / "backend.hcl").write_text('bucket = "state"\nkey = "k"\nregion = "us-east-1"\n')
        tfvars = self.env_dir(env) / "terraform.tfvars"
        tfvars.write_text(tfvars.read_text().replace(f"{env}.llm.example.com", f"{env}.llm.acme.dev"))
        git = self.root / ".git"
        git.mkdir(exist_ok=True)
        (git / "config").write_text(f'[core]\n\tbare = false\n[remote "origin"]\n\turl = {REPO_URL}\n')

    def respond(self, tool: str, args_contain: list[str], stdout: str = "", rc: int = 0, stderr: str = "") -> None:
        """Answer matching calls this way (earlier answers win)."""
        self.responses.append(
            {"tool": tool, "args_contain": args_contain, "stdout": stdout, "stderr": stderr, "rc": rc}
        )

    def clear_responses(self) -> None:
        self.responses.clear()
        self.log.unlink(missing_ok=True)

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        self.responses_file.write_text(json.dumps(self.responses))
        full_env = {
            "PATH": str(self.bin),
            "HOME": str(self.root),
            "STANDIN_LOG": str(self.log),
            "STANDIN_RESPONSES": str(self.responses_file),
            **(env or {}),
        }
        if "SYSTEMROOT" in os.environ:  # pragma: no cover - Windows only
            full_env["SYSTEMROOT"] = os.environ["SYSTEMROOT"]
        return subprocess.run(
            [sys.executable, str(self.root / "RUNME.py"), *args],
            cwd=self.root,
            env=full_env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def commands(self) -> list[str]:
        """Each recorded call as one line: tool and arguments, with the sandbox path shortened."""
        return [" ".join([c["tool"], *c["argv"]]).replace(str(self.root), "<root>") for c in self.calls()]

    def healthy_platform(self, outputs: dict[str, Any] | None = None) -> None:
        """Answers of a reachable AWS account and an applied, planned environment."""
        self.respond("aws", ["sts", "get-caller-identity"], stdout='{"Account": "123456789012"}')
        self.respond("terraform", ["output", "-json"], stdout=json.dumps(outputs or fake_terraform_outputs()))
        self.respond("terraform", ["plan", "-detailed-exitcode"], rc=2)  # changes to apply
        self.respond("helm", ["list"], stdout="[]")
        self.respond("git", ["rev-parse", "HEAD"], stdout=GIT_SHA + "\n")
        self.respond("aws", ["ecr", "describe-images"], rc=254, stderr="ImageNotFoundException\n")
        self.respond("aws", ["ecr", "get-login-password"], stdout="ecr-password-not-for-logs")
        self.respond("docker", ["buildx", "inspect"], rc=1)
        for name, body in SECRET_VALUES.items():
            self.respond("aws", ["get-secret-value", name], stdout=body)
