"""`RUNME.py image`: build the gateway image for amd64 and arm64 (Graviton) with
`docker buildx` and push it to the environment's ECR repository.

The tag is the chart's appVersion and the commit (`0.1.0-1a2b3c4d5e6f`); ECR tags are
immutable, so a tag already in the repository is never rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass

from runme.layout import IMAGE_PLATFORMS, Layout
from runme.shell import Runner, StepFailed
from runme.wiring import image_tag

BUILDER = "llm-gateway"
# What the Dockerfile copies into the image (see .dockerignore): uncommitted changes
# there would ship under a tag that names a commit without them.
IMAGE_INPUTS = ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md", "gateway", "providers", "migrations")
DRY_RUN_SHA = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class ImageBuilder:
    layout: Layout
    runner: Runner

    def tag(self) -> str:
        """appVersion-<12 hex of HEAD>; under --dry-run a stand-in sha."""
        sha = self.runner.run(
            ["git", "-C", str(self.layout.root), "rev-parse", "HEAD"], capture=True, dry_run_stdout=DRY_RUN_SHA
        ).stdout.strip()
        if not sha:
            raise StepFailed("`git rev-parse HEAD` printed nothing: RUNME.py must run in a git checkout")
        return image_tag(self.layout.chart_app_version(), sha)

    def build_and_push(self, repository_url: str, region: str) -> str:
        """Build and push repository_url:<tag> unless that tag exists; return the tag."""
        tag = self.tag()
        changed = self.runner.run(
            ["git", "-C", str(self.layout.root), "status", "--porcelain", "--", *IMAGE_INPUTS], capture=True
        ).stdout
        if changed.strip():
            files = ", ".join(line[3:] for line in changed.splitlines()[:5] if line.strip())
            raise StepFailed(
                f"uncommitted changes in what the image is built from ({files}): commit them first, "
                f"the tag {tag} names the commit"
            )
        repository = repository_url.split("/", 1)[1] if "/" in repository_url else repository_url
        existing = self.runner.run(
            [
                "aws", "ecr", "describe-images", "--region", region,
                "--repository-name", repository, "--image-ids", f"imageTag={tag}",
            ],
            capture=True,
            ok_codes=(0, 254, 255),
            dry_run_returncode=254,
        )
        if existing.returncode == 0:
            self.runner.say(f"image {repository_url}:{tag} is already in ECR: nothing to build")
            return tag
        registry = repository_url.split("/", 1)[0]
        password = self.runner.run(
            ["aws", "ecr", "get-login-password", "--region", region], capture=True, dry_run_stdout="<password>"
        ).stdout
        self.runner.run(
            ["docker", "login", "--username", "AWS", "--password-stdin", registry], stdin=password, capture=True
        )
        builder = self.runner.run(["docker", "buildx", "inspect", BUILDER], capture=True, ok_codes=(0, 1))
        if builder.returncode != 0:
            # The default (docker) driver cannot build several platforms into one manifest list.
            self.runner.run(["docker", "buildx", "create", "--name", BUILDER, "--driver", "docker-container"])
        self.runner.run(
            [
                "docker", "buildx", "build",
                "--builder", BUILDER,
                "--platform", ",".join(IMAGE_PLATFORMS),
                "--tag", f"{repository_url}:{tag}",
                "--provenance=false",
                "--push",
                str(self.layout.root),
            ]
        )
        return tag
