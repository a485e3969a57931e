"""What a new operator trips over in the first hour (issue 23), each checked through the CLI
as they would run it: a separate process, the database a gateway uses, the exit code and the
words on the terminal."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

from tests.conftest import unique
from tests.integration.tenancy.support import LLM_GATEWAY, GatewayProcess, chat, gateway_env, issued_key, run_cli


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_refuses_a_placeholder_or_short_admin_key(sqlite_url: str, tmp_path: Path) -> None:
    for weak, says in (("...", "placeholder"), ("x", "placeholder"), ("short-admin-key", "at least 32")):
        env = gateway_env(sqlite_url, tmp_path, admin_key=weak)
        done = subprocess.run([LLM_GATEWAY, "serve", "--port", str(_closed_port())], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stdout + done.stderr
        assert says in done.stdout and "Traceback" not in done.stdout + done.stderr


def test_key_expiries_need_a_unit_and_must_be_positive(sqlite_url: str, tmp_path: Path) -> None:
    env = gateway_env(sqlite_url, tmp_path)
    tenant = unique("exp")
    run_cli(["tenants", "create", tenant, "--models", "*"], env, tmp_path)
    for bad in ("0s", "0d", "30", "-1h"):
        done = run_cli(["keys", "create", "--tenant", tenant, f"--expires-in={bad}"], env, tmp_path, check=False)
        assert done.returncode == 2 and "duration" in done.stderr, (bad, done.stderr)
    listed = json.loads(run_cli(["keys", "list", "--tenant", tenant, "--format", "json"], env, tmp_path).stdout)
    assert listed == []                                          # none was created, least of all a forever key


def test_an_unreachable_database_is_one_line_naming_it(tmp_path: Path) -> None:
    port = _closed_port()
    env = gateway_env(f"postgresql+asyncpg://gateway:pw@127.0.0.1:{port}/gatewaydb", tmp_path)
    for command in (["migrate"], ["tenants", "list"], ["usage"]):
        done = run_cli(command, env, tmp_path, check=False)
        assert done.returncode == 2, command
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert f"127.0.0.1:{port}/gatewaydb" in lines[0] and "connection refused" in lines[0] and "pw" not in lines[0]


def test_cli_run_from_another_directory_does_not_make_an_empty_database(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = gateway_env("sqlite+aiosqlite:///./gateway.db", tmp_path)
    done = run_cli(["keys", "create", "--tenant", "demo"], env, elsewhere, check=False)
    assert done.returncode == 2 and "no database at" in done.stderr and str(elsewhere) in done.stderr
    assert not (elsewhere / "gateway.db").exists()


def test_usage_of_an_unknown_tenant_is_an_error_not_zero(sqlite_url: str, tmp_path: Path) -> None:
    env = gateway_env(sqlite_url, tmp_path)
    done = run_cli(["usage", "--tenant", "typo"], env, tmp_path, check=False)
    assert done.returncode == 2 and "no tenant 'typo'" in done.stderr


def test_check_config_warns_about_an_unset_variable(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("providers:\n  openai: {type: openai, api_key: ${GW_TEST_UNSET_KEY}}\n"
                      "  mock: {type: mock, delay_ms: ${GW_TEST_UNSET_DELAY:-0}}\n"
                      "models:\n  m: {price: {input: 0, output: 0}, deployments: [{provider: mock, upstream: echo}]}\n")
    env = gateway_env("sqlite+aiosqlite:///" + str(tmp_path / "g.db"), tmp_path)
    done = run_cli(["check-config", str(config)], env, tmp_path)
    assert f"{config}:2: ${{GW_TEST_UNSET_KEY}} is not set" in done.stderr
    assert "GW_TEST_UNSET_DELAY" not in done.stderr                # it has a default


def test_an_operator_sees_what_a_tenant_may_do(sqlite_url: str, tmp_path: Path) -> None:
    env = gateway_env(sqlite_url, tmp_path)
    tenant = unique("eff")
    created = run_cli(["tenants", "create", tenant, "--tier", "free"], env, tmp_path)
    assert "may call no model" in created.stderr                 # an empty allowlist is said out loud
    run_cli(["tenants", "update", tenant, "--models", "mock-echo", "--rpm", "7"], env, tmp_path)
    shown = json.loads(run_cli(["tenants", "show", tenant], env, tmp_path).stdout)
    assert shown["limits"] == {"rpm": 7}
    assert shown["effective_limits"]["rpm"] == 7                # the override, beside the tier's other limits
    assert shown["effective_limits"]["tpm"] is None              # null: this tier sets no tpm, so unlimited
    assert "auto" in shown["callable_models"]                    # aliases need no entry of their own
    table = run_cli(["tenants", "list"], env, tmp_path).stdout.splitlines()
    assert table[0].split() == ["NAME", "TIER", "STATE", "MODELS"]
    assert any(line.startswith(tenant) for line in table[1:])
    version = run_cli(["--version"], env, tmp_path).stdout
    assert version.startswith("llm-gateway ")


def test_a_key_can_carry_its_own_limits(sqlite_url: str, tmp_path: Path) -> None:
    env = gateway_env(sqlite_url, tmp_path)
    tenant = unique("kl")
    run_cli(["tenants", "create", tenant, "--tier", "pro", "--models", "mock-echo"], env, tmp_path)
    _, key = issued_key(run_cli(["keys", "create", "--tenant", tenant, "--rpm", "1"], env, tmp_path).stdout)
    with GatewayProcess(env, tmp_path) as gateway:
        assert chat(gateway.url, key).status_code == 200
        assert chat(gateway.url, key).status_code == 429         # the key's 1/min, not the tier's 100
