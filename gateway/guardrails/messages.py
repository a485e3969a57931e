"""Scanning the messages of an OpenAI chat request for PII.

Covers every text the model reads: string contents, text (and refusal) parts of
array contents, tool results, and the arguments of assistant tool calls (and the
legacy function_call). Names are identifiers and are left alone. Shapes the API
would reject (content None, parts that are not objects) are skipped, never raised on.

Tool-call arguments are JSON text: PII is redacted inside the decoded strings and
the document re-encoded, so valid JSON stays valid and its numbers keep their exact
spelling. Arguments that are not JSON are redacted as plain text.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from gateway.guardrails.pii import PiiDetector


def scan_messages(messages: list[dict[str, Any]], detector: PiiDetector, *, redact: bool) -> Counter[str]:
    """Counts of PII found per type; with redact=True the messages are redacted in place."""
    scanner = _Scanner(detector, redact)
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                scanner.message(message)
    return scanner.counts


def scan_inputs(body: dict[str, Any], detector: PiiDetector, *, redact: bool) -> Counter[str]:
    """The same for an embeddings request's `input` (a string or a list of strings)."""
    scanner = _Scanner(detector, redact)
    value = body.get("input")
    if isinstance(value, str):
        body["input"] = scanner.text(value)
    elif isinstance(value, list):
        body["input"] = [scanner.text(v) if isinstance(v, str) else v for v in value]
    return scanner.counts


_RESPONSE_TEXT_PARTS = ("input_text", "output_text", "text")


def scan_response_input(body: dict[str, Any], detector: PiiDetector, *, redact: bool) -> Counter[str]:
    """The same for a Responses API body passed through as it came: `instructions`, and in
    `input` (text, or items) the message texts, function-call arguments and call outputs."""
    scanner = _Scanner(detector, redact)
    for holder, key in _response_texts(body):
        scanner._store(holder, key, holder[key], scanner.text(holder[key]))
    items = body.get("input")
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and item.get("type") == "function_call" and isinstance(item.get("arguments"), str):
            scanner._store(item, "arguments", item["arguments"], scanner.arguments(item["arguments"]))
    return scanner.counts


def _response_texts(body: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(holder, key) of each plain text of a Responses body the model reads."""
    found: list[tuple[dict[str, Any], str]] = [(body, k) for k in ("instructions", "input")
                                               if isinstance(body.get(k), str)]
    items = body.get("input")
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        for key in ("content", "output"):
            value = item.get(key)
            if isinstance(value, str):
                found.append((item, key))
            elif isinstance(value, list):
                found += [(part, "text") for part in value if isinstance(part, dict)
                          and part.get("type") in _RESPONSE_TEXT_PARTS and isinstance(part.get("text"), str)]
    return found


class _Literal:
    """A JSON number or constant kept exactly as written."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _Members(list[tuple[Any, Any]]):
    """A JSON object as its ordered (key, value) pairs, duplicates kept."""


class _Scanner:
    def __init__(self, detector: PiiDetector, redact: bool) -> None:
        self.detector = detector
        self.redact = redact
        self.counts: Counter[str] = Counter()

    def text(self, text: str) -> str:
        if self.redact:
            redacted, findings = self.detector.redact(text)
        else:
            redacted, findings = text, self.detector.find(text)
        self.counts.update(finding.type for finding in findings)
        return redacted

    def message(self, message: dict[str, Any]) -> None:
        content = message.get("content")
        if isinstance(content, str):
            self._store(message, "content", content, self.text(content))
        elif isinstance(content, list):
            self.parts(content)
        tool_calls = message.get("tool_calls")
        if isinstance(tool_calls, list):
            for call in tool_calls:
                if isinstance(call, dict):
                    self.function(call.get("function"))
        self.function(message.get("function_call"))

    def parts(self, parts: list[Any]) -> None:
        for index, part in enumerate(parts):
            if isinstance(part, str):  # not the API's shape, but a model could read it
                redacted = self.text(part)
                if self.redact:
                    parts[index] = redacted
            elif isinstance(part, dict):
                for key in ("text", "refusal"):
                    value = part.get(key)
                    if part.get("type") == key and isinstance(value, str):
                        self._store(part, key, value, self.text(value))

    def function(self, function: Any) -> None:
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            arguments = function["arguments"]
            self._store(function, "arguments", arguments, self.arguments(arguments))

    def arguments(self, arguments: str) -> str:
        try:
            document = json.loads(
                arguments,
                object_pairs_hook=_Members,
                parse_int=_Literal,
                parse_float=_Literal,
                parse_constant=_Literal,
            )
        except ValueError:
            return self.text(arguments)
        before = sum(self.counts.values())
        scanned = self.value(document)
        if not self.redact or sum(self.counts.values()) == before:
            return arguments
        return _encode(scanned)

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, _Members):
            return _Members((self.value(key), self.value(item)) for key, item in value)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        return value

    def _store(self, holder: dict[str, Any], key: str, old: str, new: str) -> None:
        if self.redact and new is not old:
            holder[key] = new


def _encode(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, _Literal):
        return value.text
    if isinstance(value, _Members):
        return "{" + ", ".join(f"{_encode(key)}: {_encode(item)}" for key, item in value) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_encode(item) for item in value) + "]"
    return json.dumps(value)  # true, false, null
