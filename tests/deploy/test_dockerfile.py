"""The Dockerfile's shape: multi-stage, slim base, non-root UID 10001, no build tools in
the final stage, writes only under /tmp, HEALTHCHECK, `llm-gateway serve` entrypoint.
(Linting and the policy scan are in test_policy_scan.py.)"""

from __future__ import annotations

import json
import re

from tests.deploy.deploy_helpers import REPO_ROOT

DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()


def stages() -> list[list[str]]:
    """Instructions per stage, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    result: list[list[str]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            result.append([])
        if result:
            result[-1].append(line)
    return result


def test_multi_stage_on_a_slim_pinned_base() -> None:
    built = stages()
    assert len(built) == 2
    for stage in built:
        assert re.fullmatch(r"FROM python:3\.11\.\d+-slim-\w+ AS \w+", stage[0])


def test_final_stage_is_non_root_and_minimal() -> None:
    final = stages()[-1]
    assert "USER 10001:10001" in final
    assert any("useradd" in line and "--uid 10001" in line for line in final)
    text = "\n".join(final)
    for build_tool in ("gcc", "build-essential", "apt-get install", "pip install"):
        assert build_tool not in text
    assert "COPY --from=build /opt/venv /opt/venv" in final
    assert "TMPDIR=/tmp" in text  # `serve --workers N` keeps its metrics directory there
    assert "PYTHONDONTWRITEBYTECODE=1" in text


def test_healthcheck_and_entrypoint() -> None:
    final = stages()[-1]
    healthcheck = next(line for line in final if line.startswith("HEALTHCHECK"))
    assert "/healthz" in healthcheck
    entrypoint = next(line for line in final if line.startswith("ENTRYPOINT"))
    command = next(line for line in final if line.startswith("CMD"))
    assert json.loads(entrypoint.split(" ", 1)[1]) == ["llm-gateway"]
    assert json.loads(command.split(" ", 1)[1])[:2] == ["serve", "--host"]
    assert "--admin-port" in command


def test_build_context_is_what_the_build_copies() -> None:
    ignored = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") + 1 :][:5] == [
        "!pyproject.toml",
        "!README.md",
        "!gateway/",
        "!providers/",
        "!migrations/",
    ]
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE, re.M)
    sources = {source for line in copied for source in line.split()}
    assert sources == {"pyproject.toml", "README.md", "gateway/", "providers/", "migrations/"}


def test_builds_for_every_platform_runme_pushes() -> None:
    """RUNME.py builds linux/amd64 and linux/arm64 in one buildx run: nothing in the
    Dockerfile may pin one architecture (base image by digest of one platform, an
    arch-specific download or --platform on FROM)."""
    from runme.layout import IMAGE_PLATFORMS

    assert set(IMAGE_PLATFORMS) == {"linux/amd64", "linux/arm64"}
    for stage in stages():
        assert "--platform" not in stage[0] and "@sha256:" not in stage[0]
    assert not re.search(r"amd64|x86_64|aarch64|arm64", DOCKERFILE)
