"""Redaction of a streamed response, one choice at a time.

Text is emitted as soon as it cannot be part of a match still forming: only the
trailing characters the detector says could begin an unfinished match are held,
so a stream stays a stream. The concatenated output equals the detector's
redaction of the whole text: emitted text is kept as context (its last characters,
from the start of the table row or INSERT tuple they belong to), and the table or
INSERT list open there is carried, so a CSV's hundredth row is judged by its header
as it is in the whole text.
"""

from __future__ import annotations

from collections import Counter

from gateway.guardrails.pii import Carry, Finding, PiiDetector

# Emitted text kept (not re-emitted) so detectors see what precedes new text: the
# boundary look-behind and the keyword window of a bare number.
_CONTEXT_CHARS = 96
# Kept context may grow to this before it is trimmed (where a table row or INSERT tuple
# allows): keeping more of the real text is always safe, and trimming costs a look at
# the structure, so it is done per line or per this many characters, not per chunk.
_CONTEXT_SLACK = 320


class StreamRedactor:
    """One per choice index of a streamed response."""

    def __init__(self, detector: PiiDetector) -> None:
        self._detector = detector
        self._context = ""  # raw text already emitted, its tail only
        self._carry: Carry | None = None  # the structure open where the context starts
        self._pending = ""  # raw text not emitted yet
        self.counts: Counter[str] = Counter()

    @property
    def held(self) -> int:
        """Characters received but not emitted yet (at most detector.max_match_len)."""
        return len(self._pending)

    def feed(self, text: str) -> str:
        """The redacted text that is safe to emit now."""
        if not text:
            return ""
        self._pending += text
        buffer = self._context + self._pending
        cut = len(buffer) - self._detector.holdback(buffer, self._carry)
        return self._emit(buffer, cut)

    def flush(self) -> str:
        """Everything still held, redacted; call once at stream end."""
        buffer = self._context + self._pending
        return self._emit(buffer, len(buffer))

    def _emit(self, buffer: str, cut: int) -> str:
        offset = len(self._context)
        cut = max(cut, offset)
        findings: list[Finding] = []
        # A finding not yet emitted lies in the pending text (or, for a custom match
        # longer than the hold-back bound, ends there): skip the scan when none can.
        if self._detector.could_match(buffer[offset:]):
            findings = [f for f in self._detector.find(buffer, self._carry) if f.end > offset]
        for finding in findings:
            if finding.start < cut < finding.end:
                cut = max(finding.start, offset)
        if cut == offset:
            return ""
        parts: list[str] = []
        position = offset
        for finding in findings:
            if finding.end > cut:
                break
            # Only a match longer than the hold-back bound (an unbounded custom pattern)
            # can reach back into emitted text: redact what is left of it.
            start = max(finding.start, offset)
            parts.append(buffer[position:start])
            parts.append(self._detector.tag(finding.type))
            self.counts[finding.type] += 1
            position = finding.end
        parts.append(buffer[position:cut])
        if cut > _CONTEXT_SLACK or "\n" in buffer[offset:cut]:
            keep, self._carry = self._detector.keep_from(buffer, self._carry, cut, _CONTEXT_CHARS)
            self._context = buffer[keep:cut]
        else:
            self._context = buffer[:cut]
        self._pending = buffer[cut:]
        return "".join(parts)
