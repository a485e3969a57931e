"""A guardrail hook's reply against the contract of its phase (gateway/guardrails/webhook.py)."""

from __future__ import annotations

import pytest

from gateway.guardrails.webhook import MAX_REPLY_BYTES, Outcome, parse_reply


def test_allow_block_modify() -> None:
    assert parse_reply(b'{"action": "allow"}', "request").outcome is Outcome.ALLOW
    blocked = parse_reply(b'{"action": "block", "reason": "secrets"}', "response")
    assert (blocked.outcome, blocked.reason) == (Outcome.BLOCK, "secrets")
    assert parse_reply(b'{"action": "block"}', "request").reason == "no reason given"
    modified = parse_reply(b'{"action": "modify", "messages": [{"role": "user", "content": "x"}]}', "request")
    assert (modified.outcome, modified.messages) == (Outcome.MODIFY, [{"role": "user", "content": "x"}])
    assert parse_reply(b'{"action": "modify", "content": "y"}', "response").content == "y"


def test_a_long_reason_is_cut() -> None:
    reply = parse_reply(b'{"action": "block", "reason": "' + b"r" * 5000 + b'"}', "request")
    assert reply.reason == "r" * 500


@pytest.mark.parametrize(("body", "phase"), [
    (b"<html>", "request"),
    (b"[]", "request"),
    (b'{"action": "quarantine"}', "request"),
    (b'{"verdict": "allow"}', "request"),
    (b'{"action": "modify", "content": "x"}', "request"),           # request phase modifies messages
    (b'{"action": "modify", "messages": []}', "request"),
    (b'{"action": "modify", "messages": [{"content": "no role"}]}', "request"),
    (b'{"action": "modify", "messages": [{"role": "user"}]}', "response"),   # response phase modifies content
    (b'{"action": "modify", "content": 3}', "response"),
])
def test_anything_else_is_invalid(body: bytes, phase: str) -> None:
    reply = parse_reply(body, phase)
    assert reply.outcome is Outcome.INVALID and reply.failed


def test_replies_are_bounded() -> None:
    assert MAX_REPLY_BYTES >= 1024 * 1024
