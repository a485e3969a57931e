"""The cache key: a hash over the scope, the model and every part of the request that can
change the answer. Fields that only change delivery or attribution are left out.

A key reads `<scope>:<model tag>:<sha256>`: the scope (the tenant's id, or `shared`) and a
short hash of the model name lead, so that one tenant's entries -- or one tenant's entries
for one model -- can be found and cleared by prefix (`llm-gateway cache clear`)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

# Changing these does not change the completion's content.
_DELIVERY_FIELDS = frozenset({"stream", "stream_options", "user", "metadata", "store", "service_tier"})
_GLOB_SPECIALS = re.compile(r"([*?\[\]\\])")


def model_tag(model: str) -> str:
    return hashlib.sha256(model.encode()).hexdigest()[:12]


def key_prefix(scope: str, model: str | None = None) -> str:
    """What every key of `scope` (and `model`, when given) starts with."""
    return f"{scope}:" if model is None else f"{scope}:{model_tag(model)}:"


def glob_escape(text: str) -> str:
    """`text` as a literal inside a Redis SCAN MATCH pattern."""
    return _GLOB_SPECIALS.sub(r"\\\1", text)


def cache_key(scope: str, model: str, body: dict[str, Any]) -> str:
    """`scope` is the tenant's id (or "shared" when a catalog opts into a shared cache);
    `body` is the request as the provider will see it (after guardrails), so raw PII
    never enters the key. JSON with sorted keys makes key order and spacing irrelevant."""
    relevant = {k: v for k, v in body.items() if k not in _DELIVERY_FIELDS and k != "model"}
    canonical = orjson.dumps({"scope": scope, "model": model, "request": relevant},
                             option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return key_prefix(scope, model) + hashlib.sha256(canonical).hexdigest()
