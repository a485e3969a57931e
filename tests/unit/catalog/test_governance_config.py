"""gateway.yaml's `validation` and `guardrails.webhooks`: parsed, defaulted, and refused at
load with the file, line and field named."""

from __future__ import annotations

import pytest

from gateway.catalog import CatalogError, parse_catalog

BASE = """
providers:
  mock: {type: mock}
models:
  mock-echo: {price: {input: 0, output: 0}, deployments: [{provider: mock, upstream: echo}]}
"""


def catalog_with(extra: str) -> str:
    return BASE + extra


def test_defaults_no_hooks_and_pass() -> None:
    catalog = parse_catalog(BASE)
    assert catalog.guardrails.webhooks == []
    assert catalog.validation.default == "pass"


def test_hooks_and_policy_parse() -> None:
    catalog = parse_catalog(catalog_with("""
validation: {default: reject}
guardrails:
  webhooks:
    - {name: dlp, url: "https://dlp.internal/check", phase: request, timeout_ms: 250, on_error: allow}
    - {name: tone, url: "http://127.0.0.1:8099/hook", phase: response}
"""))
    assert catalog.validation.default == "reject"
    dlp, tone = catalog.guardrails.webhooks
    assert (dlp.name, dlp.phase, dlp.timeout_ms, dlp.on_error) == ("dlp", "request", 250, "allow")
    assert (tone.timeout_ms, tone.on_error) == (1000, "block")     # defaults: 1 s, fail closed


@pytest.mark.parametrize(("hook", "field", "says"), [
    ('{name: a, url: "ftp://dlp.internal/x", phase: request}', "guardrails.webhooks.0.url", "http:// or https://"),
    ('{name: a, url: "dlp.internal/x", phase: request}', "guardrails.webhooks.0.url", "http:// or https://"),
    ('{name: a, url: "http://", phase: request}', "guardrails.webhooks.0.url", "with a host"),
    ('{name: a, url: "http://h/x", phase: before}', "guardrails.webhooks.0.phase", "'request' or 'response'"),
    ('{name: a, url: "http://h/x", phase: request, timeout_ms: 0}', "guardrails.webhooks.0.timeout_ms",
     "greater than 0"),
    ('{name: a, url: "http://h/x", phase: request, on_error: ignore}', "guardrails.webhooks.0.on_error",
     "'allow' or 'block'"),
    ('{name: "A b", url: "http://h/x", phase: request}', "guardrails.webhooks.0.name", "pattern"),
    ('{name: a, url: "http://h/x", phase: request, retries: 3}', "guardrails.webhooks.0.retries", "unknown key"),
    ('{url: "http://h/x", phase: request}', "guardrails.webhooks.0.name", "Field required"),
])
def test_a_bad_hook_is_a_load_error_naming_the_field(hook: str, field: str, says: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(catalog_with(f"guardrails:\n  webhooks:\n    - {hook}\n"), "gw.yaml")
    message = str(caught.value)
    assert f"gw.yaml:8: {field}: " in message
    assert says in message


def test_two_hooks_with_one_name_are_refused() -> None:
    with pytest.raises(CatalogError, match="the name 'a' is used twice"):
        parse_catalog(catalog_with("""guardrails:
  webhooks:
    - {name: a, url: "http://h/x", phase: request}
    - {name: a, url: "http://h/y", phase: response}
"""))


def test_an_unknown_validation_policy_is_refused() -> None:
    with pytest.raises(CatalogError, match=r"validation.default: Input should be 'pass', 'retry' or 'reject'"):
        parse_catalog(catalog_with("validation: {default: warn}\n"))
