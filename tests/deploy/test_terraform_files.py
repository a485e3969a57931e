"""Every .tf and .tfvars file parses (python-hcl2), is `terraform fmt` clean, and the
environments wire the module the way RUNME.py expects."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from runme.wiring import PlatformOutputs

from tests.deploy.deploy_helpers import REPO_ROOT, find_tool, run_tool

TERRAFORM = REPO_ROOT / "deploy" / "terraform"
MODULE = TERRAFORM / "modules" / "platform"
ENVIRONMENTS = ["dev", "prod"]
HCL_FILES = sorted([*TERRAFORM.rglob("*.tf"), *TERRAFORM.rglob("*.tfvars")])

PARSE_SCRIPT = """
import json, sys, hcl2
out = {}
for path in sys.argv[1:]:
    with open(path) as handle:
        out[path] = hcl2.load(handle)
json.dump(out, sys.stdout, default=str)
"""


@pytest.fixture(scope="module")
def parsed() -> dict[str, Any]:
    """Every HCL file parsed by python-hcl2 (in the tools venv), by path."""
    done = run_tool([find_tool("hcl2-python"), "-c", PARSE_SCRIPT, *map(str, HCL_FILES)])
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = plain(json.loads(done.stdout))
    return result


def plain(node: Any) -> Any:
    """python-hcl2 8 keeps HCL's quotes on labels and strings and marks blocks; drop both."""
    if isinstance(node, dict):
        return {plain(k): plain(v) for k, v in node.items() if k != "__is_block__"}
    if isinstance(node, list):
        return [plain(item) for item in node]
    if isinstance(node, str) and len(node) >= 2 and node[0] == node[-1] == '"':
        return node[1:-1]
    return node


def blocks(parsed: dict[str, Any], directory: Path, kind: str) -> dict[str, Any]:
    """Blocks of one kind (variable, output, module, resource) across a directory."""
    found: dict[str, Any] = {}
    for path, body in parsed.items():
        if Path(path).parent == directory:
            for block in body.get(kind, []):
                found.update(block)
    return found


def test_every_file_parses(parsed: dict[str, Any]) -> None:
    assert len(HCL_FILES) >= 20
    assert sorted(parsed) == sorted(map(str, HCL_FILES))


def test_terraform_fmt_is_clean() -> None:
    done = run_tool([find_tool("terraform"), "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)])
    assert done.returncode == 0, done.stdout + done.stderr


def test_fmt_check_catches_bad_formatting(tmp_path: Path) -> None:
    (tmp_path / "bad.tf").write_text('variable "x" {\ntype=string\n    default = "a"\n}\n')
    done = run_tool([find_tool("terraform"), "fmt", "-check", str(tmp_path)])
    assert done.returncode != 0


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_sets_every_variable_it_declares(env: str, parsed: dict[str, Any]) -> None:
    directory = TERRAFORM / "environments" / env
    declared = set(blocks(parsed, directory, "variable"))
    tfvars = parsed[str(directory / "terraform.tfvars")]
    assert set(tfvars) == declared
    assert tfvars["environment"] == env
    module_inputs = set(blocks(parsed, directory, "module")["platform"]) - {"source"}
    assert module_inputs <= set(blocks(parsed, MODULE, "variable"))
    assert (directory / "backend.hcl.example").is_file()


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_outputs_what_runme_reads(env: str, parsed: dict[str, Any]) -> None:
    outputs = set(blocks(parsed, TERRAFORM / "environments" / env, "output"))
    assert set(PlatformOutputs.__dataclass_fields__) <= outputs
    assert outputs <= set(blocks(parsed, MODULE, "output"))


def test_remote_state_backend_is_s3(parsed: dict[str, Any]) -> None:
    for env in ENVIRONMENTS:
        terraform_block = parsed[str(TERRAFORM / "environments" / env / "versions.tf")]["terraform"][0]
        assert "s3" in terraform_block["backend"][0]


def test_gateway_role_may_only_invoke_configured_models() -> None:
    text = (MODULE / "iam.tf").read_text()
    statement = re.search(r'data "aws_iam_policy_document" "gateway_bedrock" \{(.*?)\n\}', text, re.S)
    assert statement, "gateway_bedrock policy document not found"
    body = statement.group(1)
    actions = set(re.findall(r'"(bedrock:\w+)"', body))
    assert actions == {"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"}
    assert "resources = local.bedrock_model_arns" in body
    assert '"*"' not in body


def test_data_stores_are_encrypted_and_private() -> None:
    cache = (MODULE / "elasticache.tf").read_text()
    for setting in [
        "transit_encryption_enabled = true",
        "at_rest_encryption_enabled = true",
        'cluster_mode               = var.cache_cluster_mode ? "enabled" : "disabled"',
        "auth_token                 = random_password.cache_auth_token.result",
    ]:
        assert setting in cache
    assert re.search(r'variable "cache_cluster_mode" \{[^}]*default     = true', (MODULE / "variables.tf").read_text())
    database = (MODULE / "rds.tf").read_text()
    for setting in [
        "manage_master_user_password   = true",
        "storage_encrypted     = true",
        "publicly_accessible    = false",
        "db_subnet_group_name   = module.vpc.database_subnet_group_name",
    ]:
        assert setting in database
