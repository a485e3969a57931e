"""The cache key: a hash over the scope, the model and every part of the request that can
change the answer. Fields that only change delivery or attribution are left out."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

# Changing these does not change the completion's content.
_DELIVERY_FIELDS = frozenset({"stream", "stream_options", "user", "metadata", "store", "service_tier"})


def cache_key(scope: str, model: str, body: dict[str, Any]) -> str:
    """`scope` is the tenant's id (or "shared" when a catalog opts into a shared cache);
    `body` is the request as the provider will see it (after guardrails), so raw PII
    never enters the key. JSON with sorted keys makes key order and spacing irrelevant."""
    relevant = {k: v for k, v in body.items() if k not in _DELIVERY_FIELDS and k != "model"}
    canonical = orjson.dumps({"scope": scope, "model": model, "request": relevant},
                             option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.sha256(canonical).hexdigest()
