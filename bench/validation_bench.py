"""Response validation's CPU cost per request (gateway/guardrails/response_schema.py, on
jsonschema-rs): the schema's cache lookup (canonical JSON + SHA-256), compiling a schema (a
cache miss), and judging one answer (parse + validate), for a small and a larger schema and
answer; beside them the same judgement by the pure-Python jsonschema (when installed: the
test extra brings it), the library the gateway chose against.

CPU time (time.process_time) per operation, the median of --repeats runs of --seconds each:
contention from other processes disturbs it less than wall time does.

Run: python bench/validation_bench.py [--seconds 0.3] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.guardrails.response_schema import SchemaValidators

PERSON: dict[str, Any] = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                          "required": ["name", "age"], "additionalProperties": False}
ORDER: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["id", "customer", "items", "total"],
    "properties": {
        "id": {"type": "string", "pattern": "^ord_[a-z0-9]+$"},
        "customer": {"type": "object", "required": ["name", "tier"], "properties": {
            "name": {"type": "string", "minLength": 1}, "tier": {"enum": ["free", "pro", "enterprise"]}}},
        "items": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["sku", "qty", "price"], "additionalProperties": False,
            "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1},
                           "price": {"type": "number", "minimum": 0}, "note": {"type": ["string", "null"]}}}},
        "total": {"type": "number"}}}
CASES = {
    "person (40 B answer)": (PERSON, '{"name": "Ada Lovelace", "age": 36}'),
    "order, 40 items (2.6 KiB answer)": (ORDER, orjson.dumps({
        "id": "ord_7f3a9", "customer": {"name": "Acme Ltd", "tier": "pro"},
        "items": [{"sku": f"SKU-{i:05d}", "qty": i % 7 + 1, "price": 9.99 + i, "note": None if i % 3 else "gift"}
                  for i in range(40)], "total": 1234.5}).decode()),
}


def cpu_per_op(operation: Callable[[], object], seconds: float) -> float:
    """Microseconds of process CPU per call, over about `seconds`."""
    calls, started = 0, time.process_time()
    deadline = started + seconds
    while True:
        for _ in range(50):
            operation()
        calls += 50
        now = time.process_time()
        if now >= deadline:
            return (now - started) / calls * 1e6


def median(operation: Callable[[], object], seconds: float, repeats: int) -> float:
    return statistics.median(cpu_per_op(operation, seconds) for _ in range(repeats))


def measure(name: str, schema: dict[str, Any], answer: str, seconds: float, repeats: int,
            python_validator_for: Any) -> str:
    validators = SchemaValidators()
    check = validators.check_for(schema)
    completion = {"choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}]}
    failing = {"choices": [{"index": 0, "message": {"role": "assistant", "content": answer[:-1]}}]}
    assert check.failure(completion) is None and check.failure(failing) is not None
    lookup = median(lambda: validators.check_for(schema), seconds, repeats)
    compiling = median(lambda: SchemaValidators().check_for(schema), seconds, repeats)
    judge = median(lambda: check.failure(completion), seconds, repeats)
    fail = median(lambda: check.failure(failing), seconds, repeats)
    python = "-"
    if python_validator_for is not None:
        validator = python_validator_for(schema)(schema)
        python = f"{median(lambda: validator.is_valid(orjson.loads(answer)), seconds, repeats):9.1f}"
    return f"{name:34} {lookup:8.1f} {compiling:9.1f} {judge:8.1f} {python:>9} {fail:8.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    try:
        from jsonschema.validators import validator_for
    except ImportError:
        validator_for = None   # type: ignore[assignment]
    print(f"CPU us per operation, median of {args.repeats} runs")
    print(f"{'case':34} {'lookup':>8} {'compile':>9} {'judge':>8} {'judge-py':>9} {'fail':>8}")
    for name, (schema, answer) in CASES.items():
        print(measure(name, schema, answer, args.seconds, args.repeats, validator_for))
    print("lookup: the schema's digest and cache hit; compile: a miss (metaschema check + validator);")
    print("judge: parse the answer and validate it; judge-py: the same with the pure-Python jsonschema;")
    print("fail: an answer cut short (not JSON): the error the client reads")


if __name__ == "__main__":
    main()
