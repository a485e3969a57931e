"""The JSON formatter: one object per line with the record's fields, exception type and
place but not its text, and keys masked even if a caller slips one in."""

from __future__ import annotations

import json
import logging
import sys

from gateway.telemetry.logging import JsonFormatter

KEY = "sk-acme-" + "Q" * 43


def record(msg: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("the prompt said: my password is hunter2")
        except ValueError:
            exc_info = sys.exc_info()
    made = logging.LogRecord("gateway.test", logging.WARNING, __file__, 1, msg, args, exc_info)
    made.__dict__.update(extra)
    return made


def test_a_line_is_one_json_object_with_the_extra_fields() -> None:
    line = JsonFormatter().format(record("request", request_id="r1", tokens=3, tags=["a"]))
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["msg"] == "request" and parsed["level"] == "warning" and parsed["logger"] == "gateway.test"
    assert (parsed["request_id"], parsed["tokens"], parsed["tags"]) == ("r1", 3, ["a"])
    assert isinstance(parsed["pid"], int) and parsed["ts"].endswith("+00:00")


def test_an_exception_is_its_type_and_place_not_its_text() -> None:
    parsed = json.loads(JsonFormatter().format(record("failed", exc=True)))
    assert parsed["exc_type"] == "ValueError"
    assert parsed["exc_at"].startswith("test_logging.py:")
    assert "hunter2" not in json.dumps(parsed)


def test_keys_and_bearer_tokens_are_masked_wherever_they_appear() -> None:
    line = JsonFormatter().format(record("auth header %s", f"Bearer {KEY}", key=KEY, nested={"k": KEY}))
    assert KEY not in line and "Q" * 20 not in line
    parsed = json.loads(line)
    assert parsed["key"] == "sk-[MASKED]"
    assert parsed["msg"] == "auth header Bearer [MASKED]"


def test_a_short_display_prefix_is_not_a_key() -> None:
    parsed = json.loads(JsonFormatter().format(record("created", key_prefix="sk-acme-Ab3d")))
    assert parsed["key_prefix"] == "sk-acme-Ab3d"
