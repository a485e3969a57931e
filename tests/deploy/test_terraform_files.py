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
    database = (MODULE / "database.tf").read_text()
    for setting in [
        "manage_master_user_password = true",
        "storage_encrypted = true",
        "publicly_accessible    = false",
        "db_subnet_group_name   = module.vpc.database_subnet_group_name",
    ]:
        assert setting in database


def resources(parsed: dict[str, Any], kind: str) -> dict[str, Any]:
    """Resources of one type in the module, by name."""
    found: dict[str, Any] = {}
    for path, body in parsed.items():
        if Path(path).parent == MODULE:
            for block in body.get("resource", []):
                found.update(block.get(kind, {}))
    return found


# Resource types whose names are unique per account (and region): each must carry the
# environment, or a second environment - or a leftover of the same name - collides.
ACCOUNT_UNIQUE_NAMES = {
    "aws_ecr_repository": "name",
    "aws_iam_role": "name",
    "aws_security_group": "name",
    "aws_secretsmanager_secret": "name",
    "aws_cloudwatch_log_group": "name",
    "aws_kms_alias": "name",
    "aws_wafv2_web_acl": "name",
    "aws_wafv2_ip_set": "name",
    "aws_elasticache_replication_group": "replication_group_id",
}
PER_ENVIRONMENT = ("${local.name}", "${var.environment}")


def test_account_unique_names_carry_the_environment(parsed: dict[str, Any]) -> None:
    checked = 0
    for kind, attribute in ACCOUNT_UNIQUE_NAMES.items():
        for name, body in resources(parsed, kind).items():
            value = str(body[attribute])
            assert any(marker in value for marker in PER_ENVIRONMENT), f"{kind}.{name}: {attribute} = {value}"
            checked += 1
    assert checked >= 12
    assert resources(parsed, "aws_ecr_repository")["gateway"]["name"] == "${local.name}"


def test_module_created_roles_carry_the_environment(parsed: dict[str, Any]) -> None:
    """A module left to name its role itself uses a fixed name (rds-monitoring-role):
    EntityAlreadyExists for a second environment."""
    modules = blocks(parsed, MODULE, "module")
    database = modules["database"]
    assert database["create_monitoring_role"] is True
    assert "${local.name}" in database["iam_role_name"] and database["iam_role_use_name_prefix"] is False
    for name, module in modules.items():
        for attribute in ("role_name", "iam_role_name", "node_iam_role_name"):
            if attribute in module:
                assert "${local.name}" in str(module[attribute]), f"module.{name}.{attribute}"


def test_cluster_addons_bind_volumes_and_enforce_network_policies(parsed: dict[str, Any]) -> None:
    eks = blocks(parsed, MODULE, "module")["eks"]
    addons = eks["cluster_addons"]
    assert addons["aws-ebs-csi-driver"]["service_account_role_arn"] == "${module.ebs_csi_irsa.iam_role_arn}"
    ebs = blocks(parsed, MODULE, "module")["ebs_csi_irsa"]
    assert ebs["attach_ebs_csi_policy"] is True
    assert ebs["oidc_providers"]["main"]["namespace_service_accounts"] == ["kube-system:ebs-csi-controller-sa"]
    assert re.search(r'enableNetworkPolicy\s*=\s*\\?"true', addons["vpc-cni"]["configuration_values"])
    assert addons["vpc-cni"]["before_compute"] is True


def minimum_version(constraint: str) -> tuple[int, ...]:
    match = re.fullmatch(r">=\s*(\d+)\.(\d+)(?:\.(\d+))?", constraint.strip())
    assert match, f"unexpected required_version {constraint!r}"
    return tuple(int(part or 0) for part in match.groups())


def test_terraform_version_supports_the_s3_lockfile(parsed: dict[str, Any]) -> None:
    """backend.hcl sets use_lockfile, which Terraform reads from 1.10 on."""
    for env in ENVIRONMENTS:
        assert "use_lockfile = true" in (TERRAFORM / "environments" / env / "backend.hcl.example").read_text()
    for path in [MODULE / "versions.tf", *(TERRAFORM / "environments" / env / "versions.tf" for env in ENVIRONMENTS)]:
        constraint = parsed[str(path)]["terraform"][0]["required_version"]
        assert minimum_version(constraint) >= (1, 10, 0), path


@pytest.mark.parametrize(
    "path",
    [
        "deploy/terraform/environments/dev/tfplan",
        "deploy/terraform/environments/prod/.terraform/providers/x",
        "deploy/terraform/environments/dev/terraform.tfstate",
        "deploy/terraform/environments/dev/terraform.tfstate.backup",
        "deploy/terraform/environments/prod/backend.hcl",
        "deploy/.runme/dev/root-application.json",
    ],
)
def test_plans_state_and_provider_caches_stay_out_of_git(path: str) -> None:
    done = run_tool(["git", "-C", str(REPO_ROOT), "check-ignore", "--no-index", "-q", path])
    assert done.returncode == 0, f"{path} is not ignored by .gitignore"


def test_database_is_aurora_postgresql(parsed: dict[str, Any]) -> None:
    database = blocks(parsed, MODULE, "module")["database"]
    assert database["source"] == "terraform-aws-modules/rds-aurora/aws"
    assert database["engine"] == "aurora-postgresql"
    assert database["storage_encrypted"] is True and database["kms_key_id"] == "${aws_kms_key.database.arn}"
    assert resources(parsed, "aws_kms_key")["database"]["enable_key_rotation"] is True
    assert database["manage_master_user_password"] is True  # the RDS-owned secret stays the source of truth
    assert database["deletion_protection"] == "${var.deletion_protection}"
    assert database["backup_retention_period"] == "${var.db_backup_retention_days}"
    assert database["enabled_cloudwatch_logs_exports"] == ["postgresql"]
    assert database["publicly_accessible"] is False
    prod = parsed[str(TERRAFORM / "environments" / "prod" / "terraform.tfvars")]
    assert prod["deletion_protection"] is True and prod["db_instance_count"] >= 2
    outputs = blocks(parsed, MODULE, "output")
    assert outputs["database_secret_arn"]["value"] == "${module.database.cluster_master_user_secret[0].secret_arn}"
    assert not (MODULE / "rds.tf").exists()


def test_kubernetes_version_is_the_platform_standard(parsed: dict[str, Any]) -> None:
    for env in ENVIRONMENTS:
        assert parsed[str(TERRAFORM / "environments" / env / "terraform.tfvars")]["kubernetes_version"] == "1.34"


def test_zone_and_wildcard_certificate(parsed: dict[str, Any]) -> None:
    certificate = resources(parsed, "aws_acm_certificate")["wildcard"]
    assert certificate["domain_name"] == "*.${var.dns_zone_name}" and certificate["validation_method"] == "DNS"
    validation = resources(parsed, "aws_acm_certificate_validation")["wildcard"]
    assert "aws_route53_record.certificate_validation" in validation["validation_record_fqdns"]
    outputs = blocks(parsed, MODULE, "output")
    # The ALB listener gets the certificate only once it is issued.
    assert outputs["certificate_arn"]["value"] == "${aws_acm_certificate_validation.wildcard.certificate_arn}"
    assert outputs["public_hostname"]["value"] != outputs["admin_hostname"]["value"]
    assert "aws_route53_zone" in {kind for body in parsed.values() for block in body.get("resource", []) for kind in block}


def test_waf_guards_the_alb(parsed: dict[str, Any]) -> None:
    text = (MODULE / "waf.tf").read_text()
    acl = resources(parsed, "aws_wafv2_web_acl")["gateway"]
    assert acl["scope"] == "REGIONAL"
    rules = {rule["name"]: rule for rule in acl["rule"]}
    assert {"admin-hostname-allowlist", "public-hostname-internal-paths"} <= set(rules)
    managed = ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesAmazonIpReputationList")
    for group in managed:
        assert f'name        = "{group}"' in text
    admin = json.dumps(rules["admin-hostname-allowlist"])
    assert "block" in json.dumps(rules["admin-hostname-allowlist"]["action"]) and "not_statement" in admin
    assert "aws_wafv2_ip_set.admin_allowlist.arn" in admin and "local.admin_hostname" in admin
    assert re.search(r'waf_internal_paths\s*=\s*\["/metrics", "/admin", "/readyz"\]', text)
    assert "block" in json.dumps(rules["public-hostname-internal-paths"]["action"])
    logging = resources(parsed, "aws_wafv2_web_acl_logging_configuration")["gateway"]
    assert "authorization" in json.dumps(logging["redacted_fields"])
