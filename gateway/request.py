"""The per-request value types: what a request asks for (Operation), where its answer came
from (Candidate, Attempt, Route), how it ended (Outcome, CacheStatus), and the context every
stage of the pipeline reads and writes.

A leaf of the gateway: it imports only other leaves (providers.base, gateway.errors,
gateway.limits.base, gateway.tenancy.models), so that every layer may use these types.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from gateway.errors import GatewayError
from gateway.limits.base import Reservation
from gateway.tenancy.models import Principal
from providers.base import ChatChunk, ChatRequest, ChatResult, EmbeddingsResult, Usage


class CacheStatus(StrEnum):
    HIT = "hit"
    MISS = "miss"
    BYPASS = "bypass"


class Operation(StrEnum):
    """What the request asks for; the same eight stages serve both."""

    CHAT = "chat"
    EMBEDDINGS = "embeddings"
    RESPONSES = "responses"     # a Responses API body passed through to an upstream that has that API


class ClientApi(StrEnum):
    """The API shape the client spoke (recorded as the usage record's `api`); the stages
    always see a chat request, translated from it."""

    CHAT = "chat"
    RESPONSES = "responses"
    MESSAGES = "messages"
    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"


class Outcome(StrEnum):
    OK = "ok"
    ERROR = "error"                  # the gateway or the upstream failed the request
    REJECTED = "rejected"            # auth, quota, allowlist, guardrails said no
    CLIENT_CLOSED = "client_closed"  # the client went away before the answer was complete


@dataclass(frozen=True, slots=True)
class Candidate:
    """One deployment a request may be sent to: a catalog model on a provider entry."""

    model: str
    provider: str
    upstream: str


@dataclass(frozen=True, slots=True)
class Attempt:
    """One deployment the router tried."""

    model: str
    provider: str
    upstream_model: str
    error_kind: str | None = None


@dataclass(slots=True)
class Route:
    """Where the answer came from."""

    model: str
    provider: str
    upstream_model: str


@dataclass(frozen=True, slots=True)
class PromptRef:
    """A stored prompt the request names; the prompts stage renders it, after auth."""

    name: str                       # as named: `support-triage`, or `shared/support-triage`
    version: str | None             # a version number or a label (`production`); None: the latest
    variables: dict[str, Any]
    param: str = "prompt"           # where the request named it, for errors (`prompt`, or the header)
    variables_param: str = "prompt.variables"


@dataclass(slots=True)
class RequestContext:
    request_id: str                     # the gateway's own: unique, keys the usage record
    request: ChatRequest
    api_key: str | None
    feature: str | None = None
    client_request_id: str | None = None   # the client's x-request-id, echoed back and recorded
    cache_read: bool = True             # Cache-Control: no-cache turns this off
    cache_write: bool = True            # Cache-Control: no-store turns this off
    started: float = field(default_factory=time.perf_counter)
    operation: Operation = Operation.CHAT
    api: ClientApi = ClientApi.CHAT

    principal: Principal | None = None
    reservation: Reservation | None = None
    estimated_cost: Decimal = Decimal(0)
    redactions: Counter[str] = field(default_factory=Counter)
    cache_status: CacheStatus = CacheStatus.BYPASS
    cache_key: str | None = None
    cache_match: str | None = None          # a hit's kind: "exact" | "semantic"
    cache_similarity: float | None = None   # a hit's similarity (1.0 for an exact one)
    # A miss the semantic index files once answered (gateway.cache.semantic.matcher.Pending:
    # typed loosely here, as this leaf module must not import the cache).
    semantic_pending: object | None = None
    embedding_calls: list[RequestContext] = field(default_factory=list)   # the cache's, charged in `remember`
    prompt_ref: PromptRef | None = None     # a stored prompt the request names (rendered after auth)
    prompt_id: str | None = None            # the stored prompt the request rendered, if any
    prompt_version: int | None = None       # ... and its version
    validation: str | None = None           # the answer's JSON Schema verdict, if it was validated
    validation_policy: str | None = None    # a rendered prompt's own policy (pass | retry | reject)
    # The compiled JSON Schema check of the answer, when the request asked for a schema
    # (gateway.guardrails.response_schema.SchemaCheck: typed loosely, as for semantic_pending).
    validation_check: object | None = None
    # Answers received and charged but not sent (a validation retry's first): Charge adds them.
    unsent: list[tuple[Route | None, Usage]] = field(default_factory=list)

    candidates: list[Candidate] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    route: Route | None = None
    result: ChatResult | None = None
    embeddings: EmbeddingsResult | None = None
    stream: AsyncIterator[ChatChunk] | None = None
    completion: bytes | None = None     # the whole answer as JSON, once complete (for the cache)
    usage: Usage | None = None          # actual usage, once known (for a cut stream: what was produced)
    cost: Decimal = Decimal(0)

    outcome: Outcome = Outcome.OK
    error: GatewayError | None = None
    http_status: int = 200
    upstream_seconds: float = 0.0       # time waiting on the upstream (excluded from overhead)
    first_token_at: float | None = None
    finished_at: float | None = None

    @property
    def tenant_name(self) -> str:
        return self.principal.tenant.name if self.principal else "unknown"

    @property
    def fallback_count(self) -> int:
        return max(0, len(self.attempts) - 1)

    def fail(self, error: GatewayError, outcome: Outcome = Outcome.ERROR) -> None:
        self.error = error
        self.outcome = outcome
        self.http_status = error.status
