"""Stage 4: PII in what the model will read. Per tenant (`tenant.pii_mode` over the
catalog's `guardrails.pii.mode`): redact to [REDACTED-<TYPE>], block with a 400 that names
the types (never the values), monitor (count only), or off. Every finding counts in
`gateway_guardrail_events_total{tenant,type}`; redactions also count on the usage record.

Redaction happens in place, before the cache stage computes its key and before any
provider sees the request, so neither the key nor an upstream ever holds the raw value.

With `guardrails.pii.responses: redact`, answers are redacted too, for tenants whose mode
is redact or block (monitor and off tenants get answers as they are):
- the text a person reads: `content` and `refusal` of every choice. Tool-call arguments
  are instructions to the client's own code (an e-mail tool needs the address), so they
  pass unchanged. Logprobs are dropped: their tokens would spell out what was redacted.
- a stream is redacted per choice with a StreamRedactor that holds back only what an
  unfinished match can span; what a choice still holds goes out in a chunk of its own just
  before the chunk carrying its finish_reason, so ordering is kept and the stream stays one.
A cache hit is not scanned again: what was stored had been redacted on its way out.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from gateway.catalog import PiiPolicy
from gateway.errors import ContentBlocked
from gateway.guardrails.messages import scan_inputs, scan_messages, scan_response_input
from gateway.guardrails.pii import PiiDetector
from gateway.guardrails.stream import StreamRedactor
from gateway.request import CacheStatus, Operation, RequestContext
from gateway.telemetry import metrics

JSON = dict[str, Any]

# The parts of an answer a person reads, in a message and in a stream's delta alike.
RESPONSE_TEXT_FIELDS = ("content", "refusal")


class ScanForPii:
    def __init__(self, policy: PiiPolicy) -> None:
        self._policy = policy
        self.detector = PiiDetector(policy.types, {c.name: c.pattern for c in policy.custom})

    def mode_for(self, ctx: RequestContext) -> str:
        assert ctx.principal is not None
        return ctx.principal.tenant.pii_mode or self._policy.mode

    async def __call__(self, ctx: RequestContext) -> None:
        mode = self.mode_for(ctx)
        if mode == "off":
            return
        if ctx.operation is Operation.EMBEDDINGS:
            found = scan_inputs(ctx.request.body, self.detector, redact=mode == "redact")
        elif ctx.operation is Operation.RESPONSES:
            found = scan_response_input(ctx.request.body, self.detector, redact=mode == "redact")
        else:
            found = scan_messages(ctx.request.messages, self.detector, redact=mode == "redact")
        if not found:
            return
        note_findings(ctx, found, redacted=mode == "redact")
        if mode == "block":
            types = ", ".join(sorted(found))
            raise ContentBlocked(f"The request was blocked: it contains personal data ({types}). "
                                 "Remove it and retry.", param="messages")

    # -- responses ---------------------------------------------------------------------

    def scans_responses(self, ctx: RequestContext) -> bool:
        return (self._policy.responses == "redact" and ctx.cache_status is not CacheStatus.HIT
                and ctx.principal is not None and self.mode_for(ctx) in ("redact", "block"))

    def redact_result(self, ctx: RequestContext) -> None:
        """Redacts a whole (non-streamed) answer in ctx.result, when responses are scanned."""
        if ctx.result is None or not self.scans_responses(ctx):
            return
        if ResponseRedactor(self.detector, ctx).completion(ctx.result.body):
            ctx.result.replace_body(ctx.result.body)

    def stream_redactor(self, ctx: RequestContext) -> ResponseRedactor | None:
        """A redactor for this request's streamed answer, or None when it is not scanned."""
        return ResponseRedactor(self.detector, ctx) if self.scans_responses(ctx) else None


def note_findings(ctx: RequestContext, found: Counter[str], *, redacted: bool) -> None:
    for pii_type, count in found.items():
        metrics.GUARDRAIL_EVENTS.labels(ctx.tenant_name, pii_type).inc(count)
    if redacted:
        ctx.redactions.update(found)


class ResponseRedactor:
    """Redacts one answer: `completion()` for a whole one, `chunk()` for each chunk of a
    stream and `end()` once a stream has ended without finishing every choice."""

    def __init__(self, detector: PiiDetector, ctx: RequestContext) -> None:
        self._detector = detector
        self._ctx = ctx
        self._streams: dict[tuple[int, str], StreamRedactor] = {}
        self._noted: dict[tuple[int, str], Counter[str]] = {}
        self._head: JSON = {}

    def completion(self, body: JSON) -> bool:
        """Redacts `body` in place; True when anything in it changed."""
        changed = False
        for choice in _dicts(body.get("choices")):
            message = choice.get("message")
            if isinstance(message, dict):
                for field in RESPONSE_TEXT_FIELDS:
                    text = message.get(field)
                    if isinstance(text, str) and text:
                        redacted, findings = self._detector.redact(text)
                        if findings:
                            message[field] = redacted
                            note_findings(self._ctx, Counter(f.type for f in findings), redacted=True)
                            changed = True
            if choice.get("logprobs") is not None:
                choice["logprobs"] = None
                changed = True
        return changed

    def chunk(self, data: JSON) -> list[JSON]:
        """The chunks to send for `data`: `data` redacted, preceded by a chunk with the text
        still held for any choice that `data` finishes."""
        if not self._head:
            self._head = {k: v for k, v in data.items() if k not in ("choices", "usage")}
        held: list[JSON] = []
        for choice in _dicts(data.get("choices")):
            index = int(choice.get("index", 0))
            given = choice.get("delta")
            delta: JSON = given if isinstance(given, dict) else {}
            if choice.get("logprobs") is not None:
                choice["logprobs"] = None
            finishing = bool(choice.get("finish_reason"))
            rest: JSON = {}
            for field in RESPONSE_TEXT_FIELDS:
                text = delta.get(field)
                emitted = self._feed((index, field), text) if isinstance(text, str) else ""
                if finishing:
                    delta.pop(field, None)
                    emitted += self._flush((index, field))
                    if emitted:
                        rest[field] = emitted
                elif isinstance(text, str):
                    delta[field] = emitted
            if rest:
                held.append({"index": index, "delta": rest, "logprobs": None, "finish_reason": None})
        if not held:
            return [data]
        head = {k: v for k, v in data.items() if k not in ("choices", "usage")}
        return [{**head, "choices": held}, data]

    def end(self) -> list[JSON]:
        """A chunk with what is still held, for a stream that ended without a finish_reason
        for some choice; nothing when nothing is held."""
        rest: dict[int, JSON] = {}
        for index, field in list(self._streams):
            text = self._flush((index, field))
            if text:
                rest.setdefault(index, {})[field] = text
        if not rest:
            return []
        choices = [{"index": i, "delta": rest[i], "logprobs": None, "finish_reason": None} for i in sorted(rest)]
        return [{**self._head, "choices": choices}]

    def _feed(self, key: tuple[int, str], text: str) -> str:
        if not text:
            return ""
        redactor = self._streams.get(key)
        if redactor is None:
            redactor = self._streams[key] = StreamRedactor(self._detector)
        emitted = redactor.feed(text)
        self._note(key, redactor)
        return emitted

    def _flush(self, key: tuple[int, str]) -> str:
        redactor = self._streams.pop(key, None)
        if redactor is None:
            return ""
        emitted = redactor.flush()
        self._note(key, redactor)
        self._noted.pop(key, None)
        return emitted

    def _note(self, key: tuple[int, str], redactor: StreamRedactor) -> None:
        """Counts the findings a stream redactor made since it was last noted."""
        before = self._noted.get(key)
        if redactor.counts.total() == (before.total() if before is not None else 0):
            return
        new = redactor.counts - before if before is not None else redactor.counts.copy()
        note_findings(self._ctx, new, redacted=True)
        self._noted[key] = redactor.counts.copy()


def _dicts(items: Any) -> list[JSON]:
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
