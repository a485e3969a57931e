"""`RUNME.py secrets`: the Secrets Manager entries an operator must fill in before the
apps can start (Terraform creates them empty), checked without printing any value.

Terraform fills the others itself (Valkey token, admin key) and RDS owns the database's.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from runme.shell import Runner, StepFailed
from runme.wiring import PlatformOutputs


@dataclass(frozen=True)
class OperatorSecret:
    output: str  # Terraform output naming the entry
    purpose: str
    fields: tuple[str, ...]
    example: str  # JSON shape, with placeholders only
    # Environments that cannot start without it; elsewhere a missing entry is reported only.
    required_in: frozenset[str] = frozenset({"dev", "prod"})


OPERATOR_SECRETS = (
    OperatorSecret("openai_secret_name", "OpenAI API key of the gateway", ("api_key",), '{"api_key":"sk-..."}'),
    OperatorSecret(
        "oidc_secret_name",
        "OIDC client of the admin console (single sign-on)",
        ("issuer", "client_id", "client_secret", "roles_claim"),
        '{"issuer":"https://login.example.com/","client_id":"...","client_secret":"...","roles_claim":"roles"}',
        # The admin Deployment (and its OIDC login) is on in prod; dev logs in with the admin key.
        required_in=frozenset({"prod"}),
    ),
)


def missing_fields(secret_string: str, fields: tuple[str, ...]) -> list[str]:
    """Fields absent or empty in a secret's JSON (every field when it is not JSON)."""
    try:
        value = json.loads(secret_string)
    except json.JSONDecodeError:
        return list(fields)
    if not isinstance(value, dict):
        return list(fields)
    return [name for name in fields if not str(value.get(name) or "").strip()]


def check_operator_secrets(runner: Runner, outputs: PlatformOutputs, env: str) -> None:
    """Raise StepFailed naming every entry still to fill and the command that fills it."""
    todo: list[str] = []
    for secret in OPERATOR_SECRETS:
        name = getattr(outputs, secret.output)
        found = runner.run(
            [
                "aws", "secretsmanager", "get-secret-value", "--region", outputs.region,
                "--secret-id", name, "--query", "SecretString", "--output", "text",
            ],
            capture=True,
            ok_codes=(0, 254, 255),
            dry_run_stdout=json.dumps({field: "<set>" for field in secret.fields}),
        )
        if runner.dry_run:
            runner.say(f"{name} ({secret.purpose}) must hold {', '.join(secret.fields)}")
            continue
        absent = list(secret.fields) if found.returncode != 0 else missing_fields(found.stdout, secret.fields)
        fill = (
            f"aws secretsmanager put-secret-value --region {outputs.region} --secret-id {shlex.quote(name)} "
            f"--secret-string {shlex.quote(secret.example)}"
        )
        if absent and env in secret.required_in:
            todo.append(f"  - {name} ({secret.purpose}): missing {', '.join(absent)}; fill it with\n      {fill}")
        elif absent:
            runner.say(f"{name} ({secret.purpose}) is not filled (optional in {env}); to use it: {fill}")
        else:
            runner.say(f"{name}: filled ({', '.join(secret.fields)})")
    if todo:
        raise StepFailed(
            "Secrets Manager entries the operator must fill before `apps`:\n" + "\n".join(todo)
        )
