"""A password holding # ? @ ( / survives the way from Terraform output to the gateway's
database URL, on both roads RUNME.py builds:

- cluster: `terraform output -json` -> RUNME.py `apps` -> root Application -> chart values
  -> rendered Deployment + ExternalSecret -> the Secret External Secrets writes (from the
  RDS-managed secret the Terraform output names) -> the pod's environment -> the URL
  the gateway composes from those parts;
- local: PGPASSWORD -> RUNME.py `local` -> GATEWAY_DATABASE_URL of `llm-gateway serve`.

The password itself never passes through Terraform: RDS generates and rotates it in
Secrets Manager, and the Terraform output carries that secret's ARN.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from runme.wiring import compose_database_url, compose_redis_url
from sqlalchemy.engine import make_url

from tests.deploy.deploy_helpers import CHART_DIR, documents, find, render
from tests.deploy.runme_sandbox import RunmeSandbox, fake_terraform_outputs

HARD_PASSWORDS = ["p#ss?w@rd(1)/x", "#?@(/", "a b+c%20d:e", "ümlaut€#", "/leading?and@trailing#"]
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1234-AbCdEf"


def gateway_compose() -> Any:
    """gateway.settings.compose_database_url when the gateway is installed, else None."""
    try:
        from gateway.settings import compose_database_url as compose
    except ImportError:
        return None
    return compose


@pytest.mark.parametrize("password", HARD_PASSWORDS)
def test_composed_url_parses_back_to_the_parts(password: str) -> None:
    url = compose_database_url("db.internal", 5432, "gw@user", password, "llm_gateway")
    parsed = make_url(url)
    assert (parsed.username, parsed.password, parsed.host, parsed.port, parsed.database) == (
        "gw@user",
        password,
        "db.internal",
        5432,
        "llm_gateway",
    )
    assert parsed.drivername == "postgresql+asyncpg"
    gateway = gateway_compose()
    if gateway is not None:
        assert gateway("db.internal", 5432, "gw@user", password, "llm_gateway") == url


@pytest.mark.parametrize("password", HARD_PASSWORDS)
def test_composed_redis_url_keeps_the_password(password: str) -> None:
    from redis.connection import parse_url

    url = compose_redis_url("cache.internal", 6379, password=password, tls=True)
    parsed = parse_url(url)  # type: ignore[no-untyped-call]
    assert parsed["password"] == password and parsed["host"] == "cache.internal"


# ---- the cluster road ---------------------------------------------------------------


def external_secrets_sync(external_secret: dict[str, Any], secrets_manager: dict[str, str]) -> dict[str, str]:
    """What External Secrets writes into the target Secret: each data entry fetched from
    Secrets Manager (JSON property), then the v2 template's `{{ .x }}` and
    `{{ .x | urlquery }}` expressions filled in (urlquery is Go's QueryEscape)."""
    fetched = {
        item["secretKey"]: json.loads(secrets_manager[item["remoteRef"]["key"]])[item["remoteRef"]["property"]]
        for item in external_secret["spec"]["data"]
    }
    template = external_secret["spec"]["target"].get("template", {}).get("data")
    if not template:
        return fetched

    def fill(match: re.Match[str]) -> str:
        value = fetched[match.group(1)]
        return quote_plus(value) if match.group(2) else value

    pattern = re.compile(r"\{\{ \.(\w+)( \| urlquery)? \}\}")
    return {key: pattern.sub(fill, text) for key, text in template.items()}


def pod_environment(deployment: dict[str, Any], secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in container["env"] if "value" in item}
    for source in container.get("envFrom", []):
        env.update(secrets[source["secretRef"]["name"]])
    return env


@pytest.fixture
def wired_values(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The gateway chart values RUNME.py `apps` derives from `terraform output -json`."""
    sandbox = RunmeSandbox(tmp_path)
    sandbox.add_backend()
    sandbox.healthy_platform(fake_terraform_outputs(database_secret_arn=SECRET_ARN))
    done = sandbox.run("apps")
    assert done.returncode == 0, done.stderr
    app = json.loads((tmp_path / "deploy" / ".runme" / "dev" / "root-application.json").read_text())
    yield app["spec"]["source"]["helm"]["valuesObject"]["gateway"]["values"]


@pytest.mark.parametrize("password", HARD_PASSWORDS[:2])
def test_password_reaches_the_gateway_url_in_the_cluster(
    password: str, wired_values: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = documents(render(CHART_DIR, [CHART_DIR / "values.yaml"], wired_values))
    external_secret = find(docs, "ExternalSecret", "llm-gateway")
    secrets_manager = {
        SECRET_ARN: json.dumps({"username": "llm_gateway", "password": password}),
        "llm-gateway/dev/redis": json.dumps({"auth_token": "TokenWithoutSpecials0123456789"}),
        "llm-gateway/dev/admin": json.dumps({"admin_key": "gw-admin-x"}),
        "llm-gateway/dev/openai": json.dumps({"api_key": "sk-x"}),
    }
    secret = external_secrets_sync(external_secret, secrets_manager)
    env = pod_environment(find(docs, "Deployment"), {external_secret["spec"]["target"]["name"]: secret})

    assert env["GATEWAY_DATABASE_PASSWORD"] == password
    url = compose_database_url(
        env["GATEWAY_DATABASE_HOST"],
        env["GATEWAY_DATABASE_PORT"],
        env["GATEWAY_DATABASE_USER"],
        env["GATEWAY_DATABASE_PASSWORD"],
        env["GATEWAY_DATABASE_NAME"],
    )
    parsed = make_url(url)
    assert parsed.password == password
    assert (parsed.host, parsed.port, parsed.database) == (
        "llm-gateway-dev.cluster-abc.us-east-1.rds.amazonaws.com",
        5432,
        "llm_gateway",
    )
    redis = env["GATEWAY_REDIS_URL"]
    assert redis.startswith("rediss://:TokenWithoutSpecials0123456789@clustercfg.")

    settings_module = pytest.importorskip("gateway.settings")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = settings_module.Settings()
    assert settings.database_url == url
    assert make_url(settings.database_url).password == password


# ---- the local road -----------------------------------------------------------------


@pytest.fixture
def listening_ports() -> Iterator[tuple[int, int]]:
    """Two ports on 127.0.0.1 that accept connections (RUNME.py only checks reachability)."""
    servers = []
    for _ in range(2):
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        servers.append(server)
    try:
        yield servers[0].getsockname()[1], servers[1].getsockname()[1]
    finally:
        for server in servers:
            server.close()


def test_password_reaches_the_gateway_url_locally(tmp_path: Path, listening_ports: tuple[int, int]) -> None:
    password = HARD_PASSWORDS[0]
    pg_port, redis_port = listening_ports
    sandbox = RunmeSandbox(tmp_path, tools=["llm-gateway", "psql", "createdb"])
    done = sandbox.run(
        "local",
        "--port",
        "18080",
        env={
            "PGHOST": "127.0.0.1",
            "PGPORT": str(pg_port),
            "PGUSER": "gateway",
            "PGPASSWORD": password,
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        },
    )
    assert done.returncode == 0, done.stderr
    calls = sandbox.calls()
    assert [c["tool"] for c in calls] == ["psql", "createdb", "llm-gateway", "llm-gateway"]
    assert calls[1]["argv"][-1] == "llm_gateway"
    migrate, serve = calls[2], calls[3]
    assert migrate["argv"] == ["migrate"]
    assert serve["argv"] == ["serve", "--host", "127.0.0.1", "--port", "18080", "--admin-port", "8081"]
    url = serve["env"]["GATEWAY_DATABASE_URL"]
    assert make_url(url).password == password and make_url(url).port == pg_port
    assert serve["env"]["GATEWAY_REDIS_URL"] == f"redis://127.0.0.1:{redis_port}/0"
    assert password not in done.stdout + done.stderr  # printed commands mask it
    gateway = gateway_compose()
    if gateway is not None:
        assert url == gateway("127.0.0.1", pg_port, "gateway", password, "llm_gateway")


def test_local_names_the_services_it_cannot_reach(tmp_path: Path) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    sandbox = RunmeSandbox(tmp_path, tools=["llm-gateway"])
    done = sandbox.run(
        "local", env={"PGHOST": "127.0.0.1", "PGPORT": str(port), "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    )
    assert done.returncode == 1
    assert f"PostgreSQL at 127.0.0.1:{port}" in done.stderr and f"Redis at 127.0.0.1:{port}" in done.stderr
    assert sandbox.calls() == []
