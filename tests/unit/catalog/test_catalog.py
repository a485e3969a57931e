from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from gateway.catalog import CatalogError, Price, load_catalog, parse_catalog

VALID = """
providers:
  openai: {type: openai, base_url: https://api.openai.com/v1, api_key: ${TEST_CATALOG_KEY}}
  mock: {type: mock}
models:
  gpt-4o-mini:
    price: {input: 0.15, output: 0.60, cached_input: 0.075}
    deployments: [{provider: openai, upstream: gpt-4o-mini}]
  mock-echo:
    price: {input: 0, output: 0}
    deployments: [{provider: mock, upstream: echo}]
aliases:
  auto: {models: [gpt-4o-mini, mock-echo]}
  cheapest: {rank: price}
"""


def test_valid_catalog_expands_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_CATALOG_KEY", "sk-from-env")
    catalog = parse_catalog(VALID)
    assert catalog.providers["openai"].options["api_key"] == "sk-from-env"
    assert catalog.models["gpt-4o-mini"].price.cached_input == Decimal("0.075")
    assert catalog.aliases["auto"].models == ["gpt-4o-mini", "mock-echo"]


def test_built_in_catalog_uses_only_the_mock_provider() -> None:
    catalog = load_catalog(None)
    assert {p.type for p in catalog.providers.values()} == {"mock"}
    assert "mock-echo" in catalog.models and {"free", "pro", "enterprise"} <= set(catalog.tiers)


@pytest.mark.parametrize(("text", "line", "key"), [
    (VALID + "cach: {mode: exact}\n", 15, "cach"),
    (VALID.replace("cached_input: 0.075", "cached_input: 0.075, outptu: 1"), 7, "models.gpt-4o-mini.price.outptu"),
    (VALID.replace("type: mock}", "type: mock, colour: blue}"), 4, "providers.mock"),
    (VALID.replace("{provider: mock, upstream: echo}", "{provider: nope, upstream: echo}"), 11, "models.mock-echo.deployments"),
    (VALID.replace("[gpt-4o-mini, mock-echo]", "[gpt-5]"), 13, "aliases.auto.models"),
])
def test_errors_name_file_line_and_key(text: str, line: int, key: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, "gateway.yaml")
    message = str(caught.value)
    assert f"gateway.yaml:{line}:" in message and key in message, message


def test_unreadable_and_invalid_yaml_are_clear(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "missing.yaml")
    with pytest.raises(CatalogError, match="not valid YAML"):
        parse_catalog("providers: [unclosed")


def test_price_is_exact_decimal_per_million_tokens() -> None:
    price = Price(input=Decimal("0.15"), output=Decimal("0.60"), cached_input=Decimal("0.075"))
    assert price.cost(1_000_000, 0) == Decimal("0.15")
    assert price.cost(1000, 500, cached_tokens=400) == (600 * Decimal("0.15") + 400 * Decimal("0.075")
                                                         + 500 * Decimal("0.60")) / 1_000_000


@pytest.mark.parametrize("pattern", ["EMP-(\\d{6}", "x*", "(?:)"])
def test_unusable_custom_pii_patterns_are_config_errors(pattern: str) -> None:
    text = VALID + f"guardrails:\n  pii:\n    custom: [{{name: employee_id, pattern: '{pattern}'}}]\n"
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, "gateway.yaml")
    assert "gateway.yaml:17:" in str(caught.value) and "custom" in str(caught.value)
