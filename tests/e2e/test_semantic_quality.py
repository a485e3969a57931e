"""Every labelled pair (tests/data/semantic_pairs.tsv: >= 300, paraphrases and hard
negatives over ten domains) through a real gateway with the local model and the default
settings: the targets are recall >= 50% on paraphrases and false hits <= 1% on negatives.
bench/semantic_cache.py runs the same pairs for the README's figures and the sweep."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.support.gateway import running_gateway, write_catalog
from tests.support.semantic_pairs import load_pairs, quality, run_pairs

pytestmark = [pytest.mark.semantic, pytest.mark.timeout(600)]

CATALOG = """
providers:
  mock: {type: mock}
  local: {type: local}
models:
  mock-echo: {price: {input: 0, output: 0}, deployments: [{provider: mock, upstream: echo}]}
  all-minilm-l6-v2: {kind: embeddings, price: {input: 0, output: 0},
                     deployments: [{provider: local, upstream: all-MiniLM-L6-v2}]}
tiers:
  pro: {rpm: 100000}
cache:
  mode: semantic
  # the default threshold and guards; the embedding budget raised, so that a loaded machine's
  # slow embedding (a miss by timeout) is not counted against the quality measured here
  semantic: {embedding_model: all-minilm-l6-v2, timeout_ms: 5000}
"""


def test_the_labelled_set_is_large_and_varied() -> None:
    pairs = load_pairs()
    assert len(pairs) >= 300
    same, different = [p for p in pairs if p.same], [p for p in pairs if not p.same]
    assert min(len(same), len(different)) >= 150
    assert len({p.domain for p in pairs}) >= 8
    assert set(Counter(p.kind for p in same)) == {"typo", "politeness", "order", "words"}
    assert {"entity", "number", "unit", "negation", "direction", "language", "format"} <= {p.kind for p in different}


def test_recall_and_false_hits_with_the_defaults(sqlite_url: str, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="needs the `local` extra")
    config = write_catalog(tmp_path, CATALOG)
    with running_gateway(make_settings(sqlite_url, config)) as gw:
        outcomes = run_pairs(gw.url, gw.create_key(), load_pairs(), model="mock-echo", tag="test")
    result = quality(outcomes)
    print(result.line())
    assert result.false_hit_rate <= 0.01, [(o.pair.a, o.pair.b) for o in outcomes if o.hit and not o.pair.same]
    assert result.recall >= 0.50, result.by_kind
    assert all(o.similarity is not None and o.similarity >= 0.75 for o in outcomes if o.hit)
