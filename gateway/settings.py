"""All runtime settings, from the environment (prefix GATEWAY_). One class, read once."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from urllib.parse import quote

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

EMBEDDED_DATABASE_URL = "sqlite+aiosqlite:///./gateway.db"


class RedisFailureMode(StrEnum):
    FAIL_OPEN = "fail_open"
    FAIL_CLOSED = "fail_closed"


def compose_database_url(host: str, port: int | str, user: str, password: str, name: str,
                         driver: str = "postgresql+asyncpg") -> str:
    """Builds a URL from parts; user and password are percent-quoted so that any character
    (`#`, `?`, `@`, `(`, `/`) survives the URL parser."""
    return f"{driver}://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{int(port)}/{quote(name, safe='')}"


class UsageDrain(StrEnum):
    """Who writes the usage stream to the database (with Redis; embedded mode always drains
    its in-process queue itself)."""
    PROCESS = "process"   # `serve` starts `llm-gateway usage-drain` beside itself and restarts it
    INLINE = "inline"     # the serving process drains too (the behaviour before the drain process)
    OFF = "off"           # append only: a `llm-gateway usage-drain` elsewhere drains


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    config: Path | None = None
    database_url: str = EMBEDDED_DATABASE_URL
    database_host: str | None = None
    database_port: int = 5432
    database_user: str = "gateway"
    database_password: SecretStr | None = None
    database_name: str = "gateway"
    redis_url: str | None = None
    # True: GATEWAY_REDIS_URL names a node of a Redis/Valkey Cluster (ElastiCache cluster mode:
    # its configuration endpoint); commands then go through a cluster client. False: one server.
    redis_cluster: bool = False
    admin_key: SecretStr | None = None

    max_body_bytes: int = 4 * 1024 * 1024
    default_max_tokens: int = 1024          # reserved against token budgets when max_tokens is absent
    responses_ttl_seconds: int = 30 * 24 * 3600   # stored Responses (`store: true`) expire after this
    ratelimit_failure_mode: RedisFailureMode = RedisFailureMode.FAIL_OPEN
    shutdown_grace_seconds: float = 30.0
    usage_batch_size: int = 500
    usage_flush_interval_seconds: float = 0.5
    usage_stream_key: str = "gw:usage:v1"   # with Redis: the Redis Stream usage records go through
    usage_consumer_group: str = "gateway-usage"
    usage_consumer_name: str | None = None  # default: host-pid-random, a new consumer per process
    usage_claim_idle_seconds: float = 30.0  # entries pending this long under a dead replica are claimed
    usage_drain: UsageDrain = UsageDrain.PROCESS   # `serve --no-drain` sets off
    key_cache_ttl_seconds: float = 1.0      # key -> tenant cache; changes also arrive at once via Redis
    prompt_cache_ttl_seconds: float = 1.0   # prompt label -> version cache; moves also arrive at once via Redis
    # How long the request path waits on each store before it degrades (a key known before is
    # served from memory; limits fail open or closed; the cache misses; usage is queued locally).
    database_timeout_seconds: float = 2.0
    redis_timeout_seconds: float = 2.0
    last_used_flush_seconds: float = 5.0    # api_keys.last_used_at is written in batches this often
    bootstrap_demo_tenant: bool = True      # embedded mode: create tenant `demo` on first start
    log_level: str = "info"
    trace_content: bool = False             # put prompt/completion text on spans (off: never)

    # The admin console (/admin/ui/) and its single sign-on. Without an issuer, the admin key logs in.
    oidc_issuer: str | None = None          # e.g. https://login.microsoftonline.com/<tenant-id>/v2.0
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_roles_claim: str = "roles"         # a dotted path for nested claims: realm_access.roles
    oidc_role_map: str | None = None        # "group-or-role-value=admin,other=viewer": claim values to roles
    oidc_scopes: str = "openid email profile"
    console_url: str | None = None          # the console's public origin (https://...): redirect URI, Secure cookie
    console_session_seconds: int = 8 * 3600  # a console session's absolute lifetime

    @model_validator(mode="after")
    def _empty_admin_key_is_unset(self) -> Settings:
        # A template or compose file that passes GATEWAY_ADMIN_KEY="" means "none given":
        # the gateway then generates one, as when the variable is absent.
        if self.admin_key is not None and not self.admin_key.get_secret_value():
            self.admin_key = None
        return self

    @model_validator(mode="after")
    def _compose_url_from_parts(self) -> Settings:
        if self.database_host:
            password = self.database_password.get_secret_value() if self.database_password else ""
            self.database_url = compose_database_url(self.database_host, self.database_port,
                                                     self.database_user, password, self.database_name)
        return self

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def embedded(self) -> bool:
        return self.database_url.startswith("sqlite")
