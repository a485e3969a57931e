"""Stage 4: PII in what the model will read. Per tenant: redact to [REDACTED-<TYPE>],
block with a 400 that names the types (never the values), monitor (count only), or off."""

from __future__ import annotations

from gateway.catalog import PiiPolicy
from gateway.errors import ContentBlocked
from gateway.guardrails.messages import scan_messages
from gateway.guardrails.pii import PiiDetector
from gateway.pipeline.context import RequestContext
from gateway.telemetry import metrics


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
        found = scan_messages(ctx.request.messages, self.detector, redact=mode == "redact")
        if not found:
            return
        for pii_type, count in found.items():
            metrics.GUARDRAIL_EVENTS.labels(ctx.tenant_name, pii_type).inc(count)
        if mode == "redact":
            ctx.redactions.update(found)
        elif mode == "block":
            types = ", ".join(sorted(found))
            raise ContentBlocked(f"The request was blocked: it contains personal data ({types}). "
                                 "Remove it and retry.", param="messages")
