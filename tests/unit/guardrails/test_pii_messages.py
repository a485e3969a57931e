"""Scanning an OpenAI chat request's messages: every text the model reads, in place."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from gateway.guardrails.messages import scan_messages
from gateway.guardrails.pii import PiiDetector

DETECTOR = PiiDetector(custom={"employee_id": r"EMP-\d{6}"})


def request_messages() -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "You are a support agent. Escalations go to lead@acme.com."},
        {
            "role": "user",
            "name": "bob@example.com",  # names are identifiers: left alone
            "content": [
                {"type": "text", "text": "My card 4111 1111 1111 1111 was charged twice."},
                {"type": "image_url", "image_url": {"url": "https://img.example/123-45-6789.png"}},
                {"type": "text", "text": "Call me at (212) 555-0199."},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "lookup_customer",
                        "arguments": json.dumps(
                            {
                                "ssn": "123-45-6789",
                                "note": 'quote " and \\ and \u00e9 stay; badge EMP-123456',
                                "amount": 12.50,
                                "tags": ["vip", {"email": "bob@example.com"}],
                                "active": True,
                                "manager": None,
                            }
                        ),
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Found: SSN 234-56-7890, phone 415.555.0132"},
        {
            "role": "tool",
            "tool_call_id": "call_2",
            "content": [{"type": "text", "text": "backup card 5555555555554444"}],
        },
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't share 123-45-6789."}]},
    ]


def test_redacts_every_text_the_model_reads_in_place() -> None:
    messages = request_messages()
    counts = scan_messages(messages, DETECTOR, redact=True)

    assert messages[0]["content"] == "You are a support agent. Escalations go to [REDACTED-EMAIL]."
    user = messages[1]
    assert user["name"] == "bob@example.com"
    assert user["content"][0]["text"] == "My card [REDACTED-CREDIT_CARD] was charged twice."
    assert user["content"][1] == request_messages()[1]["content"][1]  # not text: untouched
    assert user["content"][2]["text"] == "Call me at [REDACTED-PHONE_US]."
    assert messages[3]["content"] == "Found: SSN [REDACTED-SSN], phone [REDACTED-PHONE_US]"
    assert messages[4]["content"][0]["text"] == "backup card [REDACTED-CREDIT_CARD]"
    assert messages[5]["content"][0]["refusal"] == "I can't share [REDACTED-SSN]."
    assert counts == {"email": 2, "credit_card": 2, "phone_us": 2, "ssn": 3, "employee_id": 1}


def test_tool_call_arguments_stay_valid_json_with_values_redacted() -> None:
    messages = request_messages()
    scan_messages(messages, DETECTOR, redact=True)
    arguments = messages[2]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(arguments) == {
        "ssn": "[REDACTED-SSN]",
        "note": 'quote " and \\ and \u00e9 stay; badge [REDACTED-EMPLOYEE_ID]',
        "amount": 12.5,
        "tags": ["vip", {"email": "[REDACTED-EMAIL]"}],
        "active": True,
        "manager": None,
    }
    assert '"amount": 12.5' in arguments  # numbers keep their spelling


def test_pii_hidden_behind_json_escapes_is_found() -> None:
    arguments = '{"to": "bob\\u0040example.com", "n": 1e3, "big": 123456789012345678901234567890}'
    messages: list[dict[str, Any]] = [
        {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": arguments}}]}
    ]
    assert scan_messages(messages, DETECTOR, redact=True) == {"email": 1}
    redacted = messages[0]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(redacted)["to"] == "[REDACTED-EMAIL]"
    assert "1e3" in redacted and "123456789012345678901234567890" in redacted


def test_duplicate_keys_and_pii_in_keys_are_kept_apart() -> None:
    arguments = '{"bob@example.com": 1, "amy@example.com": 2, "x": "a", "x": "b"}'
    messages: list[dict[str, Any]] = [{"role": "assistant", "tool_calls": [{"function": {"arguments": arguments}}]}]
    assert scan_messages(messages, DETECTOR, redact=True) == {"email": 2}
    redacted = messages[0]["tool_calls"][0]["function"]["arguments"]
    assert redacted == '{"[REDACTED-EMAIL]": 1, "[REDACTED-EMAIL]": 2, "x": "a", "x": "b"}'


def test_arguments_without_pii_are_left_byte_for_byte() -> None:
    arguments = '{ "city":"Boston",\n  "days": 3 }'
    messages: list[dict[str, Any]] = [{"role": "assistant", "tool_calls": [{"function": {"arguments": arguments}}]}]
    assert scan_messages(messages, DETECTOR, redact=True) == {}
    assert messages[0]["tool_calls"][0]["function"]["arguments"] is arguments


def test_arguments_that_are_not_json_are_redacted_as_text() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "assistant", "function_call": {"name": "f", "arguments": "{broken: bob@example.com"}},
    ]
    assert scan_messages(messages, DETECTOR, redact=True) == {"email": 1}
    assert messages[0]["function_call"]["arguments"] == "{broken: [REDACTED-EMAIL]"


def test_monitor_mode_counts_without_changing_anything() -> None:
    messages = request_messages()
    before = copy.deepcopy(messages)
    counts = scan_messages(messages, DETECTOR, redact=False)
    assert messages == before
    assert counts == {"email": 2, "credit_card": 2, "phone_us": 2, "ssn": 3, "employee_id": 1}


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [None, "text", 3, ["nested"]],
        [{"role": "user", "content": None}],
        [{"role": "user"}],
        [{"role": "user", "content": 42}],
        [{"role": "user", "content": [None, 7, {"type": "text"}, {"type": "text", "text": None}]}],
        [{"role": "user", "content": [{"text": "no type 123-45-6789"}]}],
        [{"role": "assistant", "tool_calls": None}],
        [{"role": "assistant", "tool_calls": [None, "x", {"function": None}, {"function": {"arguments": 5}}]}],
        [{"role": "assistant", "function_call": "x"}],
    ],
)
def test_malformed_shapes_are_skipped_without_raising(messages: list[Any]) -> None:
    before = copy.deepcopy(messages)
    assert scan_messages(messages, DETECTOR, redact=True) == {}
    assert messages == before


def test_not_a_list_is_tolerated() -> None:
    assert scan_messages(None, DETECTOR, redact=True) == {}  # type: ignore[arg-type]


def test_string_parts_are_scanned_too() -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": ["SSN 123-45-6789", {"type": "text", "text": "ok"}]}]
    assert scan_messages(messages, DETECTOR, redact=True) == {"ssn": 1}
    assert messages[0]["content"][0] == "SSN [REDACTED-SSN]"
