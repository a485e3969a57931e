"""`RUNME.py local`: the gateway in production mode against local PostgreSQL and Redis.

Production mode means the real stores (PostgreSQL through asyncpg, Redis for limits,
cache and outbox) instead of the embedded SQLite and in-process defaults. Connection
settings come from the usual variables: PGHOST, PGPORT, PGUSER, PGPASSWORD,
PGDATABASE and REDIS_URL.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from runme.shell import Runner, StepFailed
from runme.wiring import compose_database_url

DEFAULT_DATABASE = "llm_gateway"


@dataclass(frozen=True)
class LocalServices:
    pg_host: str
    pg_port: int
    pg_user: str
    pg_password: str
    pg_database: str
    redis_url: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LocalServices:
        return cls(
            pg_host=env.get("PGHOST", "127.0.0.1"),
            pg_port=int(env.get("PGPORT", "5432")),
            pg_user=env.get("PGUSER", "postgres"),
            pg_password=env.get("PGPASSWORD", ""),
            pg_database=env.get("PGDATABASE", DEFAULT_DATABASE),
            redis_url=env.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        )

    def database_url(self) -> str:
        return compose_database_url(self.pg_host, self.pg_port, self.pg_user, self.pg_password, self.pg_database)

    def redis_address(self) -> tuple[str, int]:
        parts = urlsplit(self.redis_url)
        return parts.hostname or "127.0.0.1", parts.port or 6379


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def run_local(runner: Runner, *, host: str, port: int, admin_port: int, config: str | None,
              gateway: str = "llm-gateway") -> int:
    """`gateway`: the llm-gateway command to run (found by prereqs.find_tool, e.g. in .venv)."""
    services = LocalServices.from_env(os.environ)
    absent = []
    if not reachable(services.pg_host, services.pg_port):
        absent.append(f"PostgreSQL at {services.pg_host}:{services.pg_port} (set PGHOST/PGPORT)")
    redis_host, redis_port = services.redis_address()
    if not reachable(redis_host, redis_port):
        absent.append(f"Redis at {redis_host}:{redis_port} (set REDIS_URL)")
    if absent and not runner.dry_run:
        raise StepFailed("production mode needs local services that are not reachable: " + "; ".join(absent))

    ensure_database(runner, services)
    env = {
        "GATEWAY_DATABASE_URL": services.database_url(),
        "GATEWAY_REDIS_URL": services.redis_url,
    }
    if config:
        env["GATEWAY_CONFIG"] = config
    secrets = ("GATEWAY_DATABASE_URL", "GATEWAY_REDIS_URL")
    runner.say("== local: migrate, then serve (Ctrl-C stops)")
    runner.run([gateway, "migrate"], env=env, secret_env=secrets)
    try:
        runner.run(
            [
                gateway, "serve", "--host", host, "--port", str(port),
                "--admin-port", str(admin_port),
            ],
            env=env,
            secret_env=secrets,
        )
    except KeyboardInterrupt:
        runner.say("stopped")
    return 0


def ensure_database(runner: Runner, services: LocalServices) -> None:
    """Create the database when psql is there to ask; otherwise it must already exist."""
    if shutil.which("psql") is None:
        runner.say(f"psql not found: assuming database {services.pg_database!r} exists")
        return
    connection = ["-h", services.pg_host, "-p", str(services.pg_port), "-U", services.pg_user]
    env = {"PGPASSWORD": services.pg_password} if services.pg_password else None
    literal = services.pg_database.replace("'", "''")
    found = runner.run(
        ["psql", *connection, "-d", "postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{literal}'"],
        capture=True,
        env=env,
        secret_env=("PGPASSWORD",),
        dry_run_stdout="1",
    )
    if found.stdout.strip() != "1":
        runner.run(["createdb", *connection, services.pg_database], env=env, secret_env=("PGPASSWORD",))
