"""Allowlists against a catalog: globs, aliases that reach only allowed models, and the
allowlist stage agreeing name for name with what the tenant is said to be allowed."""

from __future__ import annotations

import pytest

from gateway.catalog import parse_catalog
from gateway.errors import NotFound, PermissionDenied
from gateway.pipeline.allowlist import CheckAllowlist
from gateway.routing.latency import LatencyTracker
from gateway.tenancy.allowlist import callable_names
from gateway.tenancy.models import Tenant

CATALOG = parse_catalog("""
providers:
  p: {type: mock}
models:
  gpt-4o:      {price: {input: 2.5, output: 10},   deployments: [{provider: p, upstream: a}]}
  gpt-4o-mini: {price: {input: 0.15, output: 0.6}, deployments: [{provider: p, upstream: b}, {provider: p, upstream: b2}]}
  claude:      {price: {input: 3, output: 15},     deployments: [{provider: p, upstream: c}]}
  embed:       {kind: embeddings, price: {input: 0.02, output: 0}, deployments: [{provider: p, upstream: e}]}
aliases:
  auto:     {models: [claude, gpt-4o-mini]}
  premium:  {models: [claude]}
  cheapest: {rank: price}
  fastest:  {rank: latency}
""")
ALL_NAMES = [*CATALOG.models, *CATALOG.aliases]


def tenant(*entries: str) -> Tenant:
    return Tenant(id="t", name="t", tier="pro", models=entries, allowed_names=callable_names(entries, CATALOG))


@pytest.mark.parametrize(("entries", "expected"), [
    (("*",), set(ALL_NAMES)),
    # An alias needs no entry of its own: it is callable when it reaches a callable chat model,
    # and only ever resolves to those (README: `cheapest` ranks all models the tenant may use).
    (("gpt-4o*",), {"gpt-4o", "gpt-4o-mini", "auto", "cheapest", "fastest"}),
    (("gpt-4o*", "auto", "premium"), {"gpt-4o", "gpt-4o-mini", "auto", "cheapest", "fastest"}),  # premium: claude only
    (("auto",), set()),                                                    # an alias alone reaches nothing
    (("claude",), {"claude", "auto", "premium", "cheapest", "fastest"}),
    (("embed", "cheapest"), {"embed"}),                                    # an alias never reaches embeddings
    (("gpt-4o-mini", "c*"), {"gpt-4o-mini", "claude", "auto", "premium", "cheapest", "fastest"}),
    ((), set()),
])
def test_what_an_allowlist_lets_a_tenant_call(entries: tuple[str, ...], expected: set[str]) -> None:
    assert callable_names(entries, CATALOG) == expected


def test_an_alias_resolves_only_to_allowed_models() -> None:
    stage = CheckAllowlist(CATALOG, LatencyTracker())
    allowed = tenant("gpt-4o*", "auto", "cheapest", "fastest")
    assert {c.model for c in stage.candidates("auto", allowed)} == {"gpt-4o-mini"}
    ranked = [c.model for c in stage.candidates("cheapest", allowed)]
    assert list(dict.fromkeys(ranked)) == ["gpt-4o-mini", "gpt-4o"]
    assert {c.model for c in stage.candidates("fastest", allowed)} == {"gpt-4o", "gpt-4o-mini"}
    with pytest.raises(PermissionDenied):
        stage.candidates("claude", allowed)
    with pytest.raises(NotFound):
        stage.candidates("gpt-5", allowed)


@pytest.mark.parametrize("entries", [("*",), ("gpt-4o*", "auto", "premium"), ("auto",), ("claude", "c*", "fastest"),
                                     ("gpt-4o-mini", "premium", "cheapest")])
def test_every_allowed_chat_name_passes_the_stage_and_no_other_does(entries: tuple[str, ...]) -> None:
    stage = CheckAllowlist(CATALOG, LatencyTracker())
    subject = tenant(*entries)
    for name in ALL_NAMES:
        if CATALOG.models.get(name) is not None and CATALOG.models[name].kind != "chat":
            continue
        try:
            candidates = stage.candidates(name, subject)
        except PermissionDenied:
            assert not subject.allows(name), name
        else:
            assert subject.allows(name), name
            assert all(subject.allows(c.model) for c in candidates)
