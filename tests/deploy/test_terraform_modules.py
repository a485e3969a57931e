"""The platform module's calls of registry modules, checked offline against what those
modules declare at the newest version each constraint allows (recorded from their
sources by `python -m tests.deploy.terraform_modules --mirrors DIR --write`):
every input we pass exists, every variable without a default is passed."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.deploy.terraform_modules import RECORD_FILE, module_calls

RECORD: dict[str, Any] = json.loads(RECORD_FILE.read_text())


@pytest.fixture(scope="module")
def calls() -> dict[str, dict[str, Any]]:
    return module_calls()


def test_every_module_call_was_checked_at_its_constraint(calls: dict[str, dict[str, Any]]) -> None:
    assert set(calls) == set(RECORD)
    for label, call in calls.items():
        assert (RECORD[label]["source"], RECORD[label]["version"]) == (call["source"], call["version"]), label


@pytest.mark.parametrize("label", sorted(RECORD))
def test_inputs_are_declared_and_required_ones_passed(label: str, calls: dict[str, dict[str, Any]]) -> None:
    declared = set(RECORD[label]["variables"])
    inputs = set(calls[label]["inputs"])
    assert sorted(inputs - declared) == [], f"module.{label}: inputs the module does not declare"
    assert sorted(set(RECORD[label]["required"]) - inputs) == [], f"module.{label}: required inputs not passed"


def test_a_misspelt_input_is_caught(calls: dict[str, dict[str, Any]]) -> None:
    """The old RDS module took monitoring_role_name; the Aurora module calls it iam_role_name."""
    assert "monitoring_role_name" not in RECORD["database"]["variables"]
    assert "iam_role_name" in RECORD["database"]["variables"]


def test_module_outputs_we_read_exist() -> None:
    from tests.deploy.terraform_modules import module_references

    used = {(label, output) for label, output in module_references() if label in RECORD}
    assert len(used) >= 20
    assert sorted((label, output) for label, output in used if output not in RECORD[label]["outputs"]) == []


@pytest.mark.parametrize(
    "directory",
    ["modules/platform", "environments/dev", "environments/prod"],
)
def test_every_variable_and_local_referenced_is_declared(directory: str) -> None:
    """What `terraform validate` would say first, without providers: no undeclared var.X
    or local.X (a rename in one file but not another)."""
    from tests.deploy.deploy_helpers import REPO_ROOT

    folder = REPO_ROOT / "deploy" / "terraform" / directory
    text = "\n".join(path.read_text() for path in sorted(folder.glob("*.tf")))
    declared_variables = set(re.findall(r'^variable "(\w+)"', text, re.M))
    declared_locals = {
        name
        for block in re.findall(r"^locals \{\n(.*?)^\}", text, re.M | re.S)
        for name in re.findall(r"^  (\w+)\s*=", block, re.M)
    }
    assert sorted(set(re.findall(r"\bvar\.(\w+)", text)) - declared_variables) == []
    assert sorted(set(re.findall(r"\blocal\.(\w+)", text)) - declared_locals) == []
