"""compose.yaml, checked where no container engine runs: what `docker compose config` would
refuse (unknown keys, dependencies on services that do not exist or have no health check) and
what would only fail at run time (a GATEWAY_* variable the gateway does not read, a database URL
that does not match the database service, a command the CLI does not have)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from gateway.cli import build_parser
from gateway.settings import Settings
from tests.deploy.deploy_helpers import REPO_ROOT

COMPOSE: dict[str, Any] = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]

# The Compose Specification's top-level and service keys this file may use (a subset: the
# full list is longer, but a typo like `depends-on` or `healthcheck:` misspelt must fail here).
TOP_LEVEL = {"name", "services", "volumes", "networks", "configs", "secrets"}
SERVICE_KEYS = {"image", "build", "command", "entrypoint", "environment", "env_file", "ports", "volumes",
                "depends_on", "healthcheck", "restart", "stop_grace_period", "networks", "user", "read_only"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def test_only_known_keys() -> None:
    assert set(COMPOSE) - {k for k in COMPOSE if k.startswith("x-")} <= TOP_LEVEL
    for name, service in SERVICES.items():
        assert set(service) <= SERVICE_KEYS, (name, set(service) - SERVICE_KEYS)


def test_the_four_parts_of_production_mode() -> None:
    assert set(SERVICES) == {"postgres", "redis", "migrate", "gateway"}


@pytest.mark.parametrize("name", ["postgres", "redis"])
def test_images_are_pinned(name: str) -> None:
    assert re.fullmatch(r"[a-z0-9]+:\d+\.\d+[\w.-]*", SERVICES[name]["image"])


def test_dependencies_exist_and_health_conditions_have_health_checks() -> None:
    for name, service in SERVICES.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert dependency in SERVICES, (name, dependency)
            assert spec["condition"] in CONDITIONS
            if spec["condition"] == "service_healthy":
                assert "test" in SERVICES[dependency].get("healthcheck", {}), dependency
    assert SERVICES["gateway"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", ["migrate", "gateway"])
def test_gateway_services_build_this_repository_and_run_real_commands(name: str) -> None:
    service = SERVICES[name]
    assert service["build"] == "." and (REPO_ROOT / "Dockerfile").exists()
    build_parser().parse_args(service["command"])     # argparse exits on a command the CLI lacks


def test_every_gateway_variable_is_a_setting_and_the_urls_match_the_services() -> None:
    known = {f"GATEWAY_{field.upper()}" for field in Settings.model_fields}
    environment = SERVICES["gateway"]["environment"]
    assert SERVICES["migrate"]["environment"] == environment
    assert set(environment) <= known, set(environment) - known
    database = make_url(environment["GATEWAY_DATABASE_URL"])
    postgres = SERVICES["postgres"]["environment"]
    assert (database.host, database.username, database.password, database.database) == (
        "postgres", postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"], postgres["POSTGRES_DB"])
    assert environment["GATEWAY_REDIS_URL"].startswith("redis://redis:6379")


def test_ports_stay_on_the_laptop_and_shutdown_has_its_grace() -> None:
    gateway = SERVICES["gateway"]
    assert all(port.startswith("127.0.0.1:") for port in gateway["ports"])
    assert {p.rsplit(":", 1)[1] for p in gateway["ports"]} == {"8080", "8081"}
    assert "--admin-port" in gateway["command"]
    assert int(gateway["stop_grace_period"].rstrip("s")) > Settings().shutdown_grace_seconds
