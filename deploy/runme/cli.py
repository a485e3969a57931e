"""Command line of RUNME.py."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from runme.layout import Layout
from runme.local import run_local
from runme.prereqs import NEEDS_AWS_CREDENTIALS, find_tool, missing_prerequisites
from runme.shell import Runner, StepFailed
from runme.steps import Steps

NEEDS_REPOSITORY = {"all", "apps"}
EXIT_FAILED = 1
EXIT_PREREQUISITES = 2

DESCRIPTION = """\
Stand up the LLM gateway platform on AWS, or run the gateway locally.

  all        infra, image, secrets, bootstrap, apps (the one command)
  infra      Terraform: VPC, EKS + Karpenter, Aurora PostgreSQL, ElastiCache Valkey,
             ECR, Route 53 + ACM, WAF, IAM roles (IRSA), Secrets Manager entries
  image      build the gateway image for amd64 and arm64 (docker buildx), push to ECR
  secrets    check the Secrets Manager entries an operator must fill (OpenAI key,
             OIDC client); names each missing one and the command that fills it
  bootstrap  kubeconfig for the new cluster and Argo CD
  apps       the root Argo CD Application (gateway chart and admin deployment, Gateway
             API, observability, External Secrets, Karpenter, Kyverno, ExternalDNS),
             then waits until every application is Healthy
  status     Terraform outputs, every Argo CD application, the gateway's objects
  destroy    remove the apps, Argo CD, then every Terraform resource (asks first)
  local      the gateway in production mode against local PostgreSQL and Redis
"""


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python RUNME.py", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "command",
        choices=["all", "infra", "image", "secrets", "bootstrap", "apps", "status", "destroy", "local"],
    )
    parser.add_argument("--dry-run", action="store_true", help="print every command in order, run none")
    parser.add_argument("--env", choices=["dev", "prod"], default="dev", help="environment (default: dev)")
    parser.add_argument("--revision", default="main", help="git revision Argo CD deploys (default: main)")
    parser.add_argument(
        "--repo-url", help="git repository Argo CD pulls deploy/ from (default: this checkout's `origin`)"
    )
    parser.add_argument("--yes", action="store_true", help="destroy without asking")
    parser.add_argument("--host", default="127.0.0.1", help="local: bind address (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="local: public API port (default: 8080)")
    parser.add_argument("--admin-port", type=int, default=8081, help="local: admin API port (default: 8081)")
    parser.add_argument("--config", help="local: gateway.yaml to load (default: the built-in catalog)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, root: Path | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    layout = Layout(root=(root or Path(__file__).resolve().parents[2]), env=args.env)
    runner = Runner(dry_run=args.dry_run)

    missing = missing_prerequisites(args.command, layout)
    repo_url = args.repo_url or layout.repo_url()
    if repo_url is None and args.command in NEEDS_REPOSITORY:
        missing.append(
            "a git remote `origin` (Argo CD pulls deploy/ from it): push this checkout and add the remote, "
            "or pass --repo-url"
        )
        if args.dry_run:
            repo_url = "<git remote origin>"
    if missing:
        report = "\n".join(f"  - {item}" for item in missing)
        if not args.dry_run:
            print(f"RUNME: missing prerequisites for `{args.command}`:\n{report}", file=sys.stderr)
            return EXIT_PREREQUISITES
        runner.say(f"[dry-run] missing prerequisites (a real run would stop here):\n{report}")

    if args.command == "destroy" and not args.dry_run and not args.yes and not confirm_destroy(args.env):
        print("RUNME: destroy cancelled", file=sys.stderr)
        return EXIT_FAILED

    steps = Steps(layout=layout, runner=runner, revision=args.revision, repo_url=repo_url)
    plan = build_plan(args, steps, runner)
    current = "prerequisites"
    try:
        if args.command in NEEDS_AWS_CREDENTIALS:
            steps.check_aws_credentials()
        for name, action in plan:
            current = name
            action()
    except StepFailed as exc:
        print(
            f"RUNME: step `{current}` failed: {exc}\n"
            f"Nothing after it ran. Fix the cause and run `python RUNME.py {args.command} --env {args.env}` "
            "again: the steps are idempotent.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    runner.say(f"RUNME: `{args.command}` done ({args.env})" + (" [dry-run: nothing was run]" if args.dry_run else ""))
    return 0


def build_plan(args: argparse.Namespace, steps: Steps, runner: Runner) -> list[tuple[str, Callable[[], object]]]:
    """The ordered (name, action) steps of a command."""
    if args.command == "local":
        return [
            (
                "local",
                lambda: run_local(
                    runner, host=args.host, port=args.port, admin_port=args.admin_port, config=args.config,
                    gateway=find_tool("llm-gateway", steps.layout) or "llm-gateway",
                ),
            )
        ]
    if args.command == "all":
        return [
            ("infra", steps.infra),
            ("image", steps.image),
            ("secrets", steps.secrets),
            ("bootstrap", steps.bootstrap),
            ("apps", steps.apps),
        ]
    return [(args.command, getattr(steps, args.command))]


def confirm_destroy(env: str) -> bool:
    if not sys.stdin.isatty():
        print("RUNME: destroy needs --yes when not run from a terminal", file=sys.stderr)
        return False
    answer = input(f"Destroy every resource of `{env}`? Type the environment name to confirm: ")
    return answer.strip() == env
