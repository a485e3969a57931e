"""Fixtures of the provider suites (the fake servers themselves live in tests/fakes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.bedrock_server import use_fake_credentials


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The fake Bedrock's credentials in the environment, nothing else of the machine's AWS set-up."""
    use_fake_credentials(monkeypatch, tmp_path)
