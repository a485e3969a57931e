"""The usage record: one per request, whatever its outcome."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


@dataclass(slots=True)
class UsageRecord:
    request_id: str
    tenant: str
    status: str                      # ok | error | client_closed | rejected
    http_status: int
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))
    key_id: str | None = None
    feature: str | None = None
    end_user: str | None = None
    requested_model: str | None = None
    model: str | None = None
    provider: str | None = None
    upstream_model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    latency_ms: int | None = None
    ttft_ms: int | None = None
    fallback_count: int = 0
    stream: bool = False
    cache_hit: bool = False
    redactions: int = 0
    client_request_id: str | None = None
    api: str = "chat"                # chat | responses | messages | completions | embeddings
    cache_match: str | None = None           # a hit's kind: exact | semantic
    cache_similarity: float | None = None    # a semantic hit's cosine similarity (exact: 1.0)
    prompt_id: str | None = None             # the stored prompt the request rendered
    prompt_version: int | None = None        # ... and which of its immutable versions
    validation: str | None = None            # JSON Schema verdict: passed | failed | retried | rejected

    def __post_init__(self) -> None:
        # A request that was answered is billed: text a client sent (user, feature, a model
        # name) must not make PostgreSQL refuse the record (no NUL in its text type, no lone
        # surrogate in UTF-8), so such characters become U+FFFD here, once, for every store.
        for name in _CLIENT_TEXT:
            value = getattr(self, name)
            if value is not None and not (value.isascii() and "\x00" not in value):
                setattr(self, name, storable_text(value))

    def to_row(self) -> dict[str, Any]:
        # Shallow on purpose: dataclasses.asdict deep-copies every value and was two thirds
        # of the writer's time (bench/usage_bench.py).
        return {name: getattr(self, name) for name in FIELD_ORDER}

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe form for the outbox: exact decimal as a string, time as ISO 8601."""
        row = self.to_row()
        row["ts"] = self.ts.isoformat()
        row["cost_usd"] = str(self.cost_usd)
        return row

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UsageRecord:
        """Fields this version does not know are ignored, so that replicas of two versions
        can share one outbox during a rolling upgrade (breaking changes get a new stream key)."""
        known = {k: v for k, v in data.items() if k in _FIELDS}
        known["ts"] = datetime.fromisoformat(known["ts"])
        known["cost_usd"] = Decimal(known["cost_usd"])
        return cls(**known)


def storable_text(value: str) -> str:
    """`value` with NULs and lone surrogates replaced by U+FFFD, as any database can store it."""
    return value.replace("\x00", "\ufffd").encode("utf-8", "surrogatepass").decode("utf-8", "replace")


_CLIENT_TEXT = ("tenant", "key_id", "feature", "end_user", "requested_model", "model", "provider", "upstream_model",
                "client_request_id", "prompt_id")
FIELD_ORDER = tuple(f.name for f in fields(UsageRecord))   # also the writer's column order
_FIELDS = frozenset(FIELD_ORDER)
