"""PII guardrails: detection (pii), request message scanning (messages) and
streamed-response redaction (stream)."""

from gateway.guardrails.messages import scan_messages
from gateway.guardrails.pii import PII_TYPES, Finding, PiiDetector
from gateway.guardrails.stream import StreamRedactor

__all__ = ["PII_TYPES", "Finding", "PiiDetector", "StreamRedactor", "scan_messages"]
