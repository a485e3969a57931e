"""The catalog's provider table (providers.PROVIDER_TYPES) and what each class declares:
everything the gateway needs to know about a provider type is on its class."""

from __future__ import annotations

import inspect

import pytest

from gateway.catalog import CatalogError, parse_catalog
from gateway.routing.breaker import provider_identities
from providers import PROVIDER_TYPES, provider_class
from providers.base import Provider


@pytest.mark.parametrize("type_", sorted(PROVIDER_TYPES))
def test_each_type_is_a_class_that_declares_itself(type_: str) -> None:
    cls = provider_class(type_)
    assert issubclass(cls, Provider) and not inspect.isabstract(cls)
    assert cls.type == type_
    assert cls.genai_system and isinstance(cls.options, frozenset) and cls.options
    assert set(cls.identity_options) <= cls.options
    assert "api_key" not in cls.identity_options            # a credential never names an upstream
    assert inspect.isasyncgenfunction(cls.chat_stream)


def test_the_catalog_checks_options_against_the_class() -> None:
    with pytest.raises(CatalogError, match="colour"):
        parse_catalog("providers: {m: {type: mock, colour: red}}\nmodels: {}\n")
    with pytest.raises(CatalogError, match="unknown provider type"):
        parse_catalog("providers: {m: {type: nope}}\nmodels: {}\n")


def test_breaker_identity_comes_from_the_class_and_never_holds_a_key() -> None:
    catalog = parse_catalog("""
providers:
  a: {type: openai, base_url: "http://one/v1", api_key: sk-secret}
  b: {type: vllm, endpoints: ["http://v:8000"]}
  c: {type: bedrock, region: eu-west-1}
models: {}
""")
    identities = provider_identities(catalog)
    assert identities == {"a": "a|openai|base_url=http://one/v1", "b": "b|vllm|endpoints=['http://v:8000']",
                          "c": "c|bedrock|region=eu-west-1"}
