"""`cache.semantic` in gateway.yaml: the embedding model must be a catalog model of kind
embeddings; every mistake names the file, the line and the key."""

from __future__ import annotations

import pytest

from gateway.catalog import CatalogError, parse_catalog

BASE = """providers:
  mock: {type: mock}
  local: {type: local}
models:
  mock-echo: {price: {input: 0, output: 0}, deployments: [{provider: mock, upstream: echo}]}
  all-minilm-l6-v2: {kind: embeddings, price: {input: 0, output: 0}, deployments: [{provider: local, upstream: all-MiniLM-L6-v2}]}
cache:
  mode: semantic
"""


def test_a_semantic_cache_with_its_model_loads_with_the_documented_defaults() -> None:
    catalog = parse_catalog(BASE + "  semantic: {embedding_model: all-minilm-l6-v2}\n")
    semantic = catalog.cache.semantic
    assert semantic is not None and catalog.cache.mode == "semantic"
    assert (semantic.threshold, semantic.guards, semantic.max_messages, semantic.max_chars, semantic.timeout_ms,
            semantic.max_entries) == (0.75, True, 6, 2000, 100, 10_000)


@pytest.mark.parametrize(("tail", "expected"), [
    ("  semantic: {embedding_model: nope}\n", "gateway.yaml:9: cache.semantic.embedding_model: unknown model 'nope'"),
    ("  semantic: {embedding_model: mock-echo}\n",
     "gateway.yaml:9: cache.semantic.embedding_model: 'mock-echo' is a chat model"),
    ("", "gateway.yaml:8: cache.mode: `semantic` needs `cache.semantic: {embedding_model: ...}`"),
    ("  semantic: {embedding_model: all-minilm-l6-v2, threshold: 1.5}\n", "gateway.yaml:9: cache.semantic.threshold"),
    ("  semantic: {embedding_model: all-minilm-l6-v2, knob: 1}\n", "gateway.yaml:9: cache.semantic.knob: unknown key"),
])
def test_mistakes_name_file_line_and_key(tail: str, expected: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(BASE + tail, "gateway.yaml")
    assert expected in str(caught.value)


def test_the_local_provider_is_in_the_provider_table() -> None:
    from providers import PROVIDER_TYPES, provider_class

    assert PROVIDER_TYPES["local"] == "providers.local:LocalProvider"
    assert provider_class("local").options == frozenset({"max_batch", "threads", "precision", "timeouts"})


def test_the_local_provider_without_its_extra_is_refused_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(CatalogError) as caught:
        parse_catalog(BASE + "  semantic: {embedding_model: all-minilm-l6-v2}\n", "gateway.yaml")
    assert ("gateway.yaml:3: providers.local.type: package 'onnxruntime' is not installed; "
            "the `local` provider needs its extra: pip install 'llm-gateway[local]'") in str(caught.value)


def test_the_local_providers_precision_is_checked_at_load() -> None:
    parse_catalog(BASE.replace("local: {type: local}", "local: {type: local, precision: float32}")
                  + "  semantic: {embedding_model: all-minilm-l6-v2}\n", "gateway.yaml")
    with pytest.raises(CatalogError) as caught:
        parse_catalog(BASE.replace("local: {type: local}", "local: {type: local, precision: fp16}")
                      + "  semantic: {embedding_model: all-minilm-l6-v2}\n", "gateway.yaml")
    assert "gateway.yaml:3: providers.local.precision: must be one of int8, float32, not 'fp16'" in str(caught.value)


def test_int8_needs_onnx_and_float32_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a))
    parse_catalog(BASE.replace("local: {type: local}", "local: {type: local, precision: float32}")
                  + "  semantic: {embedding_model: all-minilm-l6-v2}\n", "gateway.yaml")
    with pytest.raises(CatalogError) as caught:
        parse_catalog(BASE + "  semantic: {embedding_model: all-minilm-l6-v2}\n", "gateway.yaml")
    assert "providers.local.type: package 'onnx' is not installed" in str(caught.value)
