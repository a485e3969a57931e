"""As a new operator would: `llm-gateway serve` running, the CLI (another process, same
database) creates a tenant and a key, the key works on the very next request, a revoke is a
401 on the very next request. Afterwards the gateway's logs and every table are scanned for
the keys."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import unique
from tests.integration.tenancy.support import (
    GatewayProcess,
    assert_no_key_material,
    chat,
    database_text,
    gateway_env,
    issued_key,
    run_cli,
    wait_for_status,
)


def test_cli_changes_reach_a_running_gateway_on_the_next_request(postgres_url: str, redis_url: str,
                                                                 tmp_path: Path) -> None:
    # A 30 s key cache: only the change the CLI publishes can make these take effect at once.
    env = gateway_env(postgres_url, tmp_path, redis_url=redis_url, key_cache_ttl_seconds="30")
    tenant = unique("cli")
    keys: list[str] = []
    with GatewayProcess(env, tmp_path) as gateway:
        run_cli(["tenants", "create", tenant, "--tier", "free", "--models", "mock-*,auto"], env, tmp_path)
        key_id, key = issued_key(run_cli(["keys", "create", "--tenant", tenant, "--label", "ci"], env, tmp_path).stdout)
        keys.append(key)
        first = chat(gateway.url, key)
        assert first.status_code == 200, first.text
        assert first.json()["choices"][0]["message"]["content"] == "hello"

        # Tier change: free allows 2 requests a minute; pro takes effect on the next request.
        assert chat(gateway.url, key).status_code == 200
        assert chat(gateway.url, key).status_code == 429
        run_cli(["tenants", "update", tenant, "--tier", "pro"], env, tmp_path)
        assert chat(gateway.url, key).status_code == 200

        # An override wins over the tier, and dropping it returns to the tier.
        run_cli(["tenants", "update", tenant, "--rpm", "1"], env, tmp_path)
        assert chat(gateway.url, key).status_code == 429
        run_cli(["tenants", "update", tenant, "--rpm", "tier"], env, tmp_path)
        assert chat(gateway.url, key).status_code == 200

        run_cli(["keys", "revoke", key_id], env, tmp_path)
        revoked = chat(gateway.url, key)
        assert revoked.status_code == 401, revoked.text

        _, second = issued_key(run_cli(["keys", "create", "--tenant", tenant], env, tmp_path).stdout)
        keys.append(second)
        assert chat(gateway.url, second).status_code == 200
        run_cli(["tenants", "disable", tenant], env, tmp_path)
        assert chat(gateway.url, second).status_code == 401
        run_cli(["tenants", "update", tenant, "--enable"], env, tmp_path)
        assert chat(gateway.url, second).status_code == 200

        listing = run_cli(["keys", "list", "--tenant", tenant], env, tmp_path).stdout
        assert key_id in listing and "revoked" in listing and "active" in listing
        audit = run_cli(["audit", "--target", tenant], env, tmp_path).stdout
        assert audit.count('"tenant.update"') == 4 and '"tenant.disable"' in audit and '"tenant.create"' in audit

    assert_no_key_material(gateway.output, keys, "the gateway's output")
    assert '"logger"' in gateway.output             # the scan read the gateway's log lines
    assert_no_key_material(database_text(postgres_url), keys, "the database")


def test_embedded_gateway_without_redis_applies_cli_changes_within_its_cache_ttl(tmp_path: Path) -> None:
    env = gateway_env(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}", tmp_path)
    tenant = unique("cli")
    with GatewayProcess(env, tmp_path) as gateway:
        run_cli(["tenants", "create", tenant, "--tier", "pro", "--models", "*"], env, tmp_path)
        key_id, key = issued_key(run_cli(["keys", "create", "--tenant", tenant], env, tmp_path).stdout)
        assert chat(gateway.url, key).status_code == 200      # a new key: nothing cached, works at once
        run_cli(["keys", "revoke", key_id], env, tmp_path)
        # No Redis: nothing tells the gateway; its 1 s key cache is the bound.
        elapsed = wait_for_status(lambda: chat(gateway.url, key), 401, timeout=3)
        assert elapsed < 1.5
    assert_no_key_material(gateway.output, [key], "the gateway's output")
    assert_no_key_material(database_text(env["GATEWAY_DATABASE_URL"]), [key], "the database")


def test_cli_explains_mistakes_and_shows_a_key_once(tmp_path: Path) -> None:
    env = gateway_env(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}", tmp_path)
    tenant = unique("cli")
    run_cli(["tenants", "create", tenant, "--models", "mock-echo"], env, tmp_path)
    unknown = run_cli(["tenants", "update", tenant, "--models", "gpt4o"], env, tmp_path, check=False)
    assert unknown.returncode == 1 and "unknown model or alias 'gpt4o'" in unknown.stderr
    bad_tier = run_cli(["tenants", "update", tenant, "--tier", "gold"], env, tmp_path, check=False)
    assert bad_tier.returncode == 1 and "unknown tier 'gold'" in bad_tier.stderr
    missing = run_cli(["keys", "revoke", "key_nope"], env, tmp_path, check=False)
    assert missing.returncode == 1 and "no key 'key_nope'" in missing.stderr
    created = run_cli(["keys", "create", "--tenant", tenant, "--expires-in", "30d"], env, tmp_path).stdout
    key_id, key = issued_key(created)
    assert "expires at:" in created
    rotated = run_cli(["keys", "rotate", key_id, "--grace", "15m"], env, tmp_path).stdout
    new_id, new_key = issued_key(rotated)
    assert new_id != key_id and "stops working at" in rotated
    listing = run_cli(["keys", "list", "--tenant", tenant], env, tmp_path).stdout
    assert "rotating" in listing and key not in listing and new_key not in listing


def test_cli_sets_shows_and_clears_a_tenants_validation_mode(tmp_path: Path) -> None:
    env = gateway_env(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}", tmp_path)
    tenant = unique("cli")
    created = json.loads(run_cli(["tenants", "create", tenant, "--models", "*", "--validation-mode", "retry"],
                                 env, tmp_path).stdout)
    assert created["validation_mode"] == "retry"
    assert json.loads(run_cli(["tenants", "show", tenant], env, tmp_path).stdout)["validation_mode"] == "retry"
    updated = json.loads(run_cli(["tenants", "update", tenant, "--validation-mode", "reject"], env, tmp_path).stdout)
    assert updated["validation_mode"] == "reject"
    cleared = json.loads(run_cli(["tenants", "update", tenant, "--validation-mode", "default"], env, tmp_path).stdout)
    assert cleared["validation_mode"] is None
    wrong = run_cli(["tenants", "update", tenant, "--validation-mode", "warn"], env, tmp_path, check=False)
    assert wrong.returncode == 1
    assert "unknown validation mode 'warn' (known: pass, retry, reject, default)" in wrong.stderr
    audit = run_cli(["audit", "--target", tenant], env, tmp_path).stdout
    assert audit.count("tenant.update") == 2
