"""Scanning a Responses API body that is passed through as it came: instructions, input
text, message parts, function-call arguments (as JSON) and call outputs, in place."""

from __future__ import annotations

import copy
import json
from typing import Any

from gateway.guardrails.messages import scan_response_input
from gateway.guardrails.pii import PiiDetector

DETECTOR = PiiDetector()


def body() -> dict[str, Any]:
    return {"model": "m", "instructions": "escalate to lead@acme.com", "input": [
        {"role": "user", "content": "my SSN is 123-45-6789"},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "card 4111 1111 1111 1111"},
            {"type": "input_image", "image_url": "https://img.example/123-45-6789.png"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "mail ann@b.org?"}]},
        {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": '{"ssn": "123-45-6789", "n": 1.50}'},
        {"type": "function_call_output", "call_id": "c1", "output": "owner: ann@b.org"},
        {"type": "web_search_call", "id": "ws_1", "status": "completed"}]}


def test_every_text_the_model_reads_is_redacted_in_place() -> None:
    scanned = body()
    found = scan_response_input(scanned, DETECTOR, redact=True)
    assert found == {"email": 3, "ssn": 2, "credit_card": 1}
    items = scanned["input"]
    assert scanned["instructions"] == "escalate to [REDACTED-EMAIL]"
    assert items[0]["content"] == "my SSN is [REDACTED-SSN]"
    assert items[1]["content"][0]["text"] == "card [REDACTED-CREDIT_CARD]"
    assert items[1]["content"][1] == body()["input"][1]["content"][1]      # a URL is not text the model reads
    assert items[2]["content"][0]["text"] == "mail [REDACTED-EMAIL]?"
    assert json.loads(items[3]["arguments"]) == {"ssn": "[REDACTED-SSN]", "n": 1.50}
    assert '"n": 1.50' in items[3]["arguments"]                             # numbers keep their spelling
    assert items[4]["output"] == "owner: [REDACTED-EMAIL]"
    assert items[5] == body()["input"][5]


def test_string_input_and_monitor_mode() -> None:
    plain = {"model": "m", "input": "write to ann@b.org"}
    assert scan_response_input(plain, DETECTOR, redact=True) == {"email": 1}
    assert plain["input"] == "write to [REDACTED-EMAIL]"
    original = body()
    unchanged = copy.deepcopy(original)
    assert sum(scan_response_input(unchanged, DETECTOR, redact=False).values()) == 6
    assert unchanged == original
