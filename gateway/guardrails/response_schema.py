"""An answer against the JSON Schema its request asked for (`response_format: {type:
json_schema}` on chat; a Responses `text.format` arrives here translated to the same).

The library is jsonschema-rs (Rust, the draft from `$schema`, else 2020-12): measured with
bench/validation_bench.py it judges a 2.6 KiB answer to a 40-item order schema in ~15 us of
CPU where the pure-Python jsonschema takes ~1,150 us, on the event loop of every such request.
It is built `offline`: a client's schema may not make the gateway fetch a `$ref` URL (its
default would). A `$ref` outside the schema is then an invalid schema: the client's 400.

Compiling a schema (checking it against its metaschema, building the validator: ~0.8-3 ms)
costs far more than judging one answer with it, and a client sends the same schema request
after request: compiled validators are kept per schema, keyed by the SHA-256 of the schema's
canonical JSON (sorted keys), least recently used dropped past `max_entries`.

What fails: content that is not JSON at all (the most common failure: prose, a code fence,
an answer cut off by max_tokens), JSON the schema refuses, a choice without text. A choice
that ends in tool calls and has no text is not judged: its arguments follow their tools'
own schemas, and the JSON Schema constrains the final message. The error names where and
why (`$.items[0].price: 'x' is not of type 'number'`), cut to ERROR_CHARS: never the whole
answer.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import orjson

JSON = dict[str, Any]
ERROR_CHARS = 300


class InvalidSchema(ValueError):
    """The request's schema is not a JSON Schema (the message says why)."""


def requested_schema(body: Mapping[str, Any]) -> JSON | None:
    """The JSON Schema a chat body's `response_format` asks for, or None. A malformed
    response_format is the upstream's to refuse; only a usable schema is returned."""
    fmt = body.get("response_format")
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None
    spec = fmt.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    return schema if isinstance(schema, dict) else None


@dataclass(frozen=True, slots=True)
class SchemaCheck:
    """One compiled schema: `failure(completion)` is None when every judged choice
    conforms, else the first error, as a client may read it."""

    validator: Any          # a jsonschema_rs validator (its classes are per draft)
    digest: str

    def failure(self, completion: Mapping[str, Any]) -> str | None:
        choices = [c for c in completion.get("choices") or () if isinstance(c, dict)]
        for choice in choices:
            message = choice.get("message")
            message = message if isinstance(message, dict) else {}
            content = message.get("content")
            if not content and message.get("tool_calls"):
                continue   # a tool call turn: not the answer the schema describes
            error = self.text_failure(content)
            if error is not None:
                return error if len(choices) == 1 else _cut(f"choice {choice.get('index', 0)}: {error}")
        return None

    def judges(self, completion: Mapping[str, Any]) -> bool:
        """False when no choice carries an answer to judge (only tool calls)."""
        for choice in completion.get("choices") or ():
            message = choice.get("message") if isinstance(choice, dict) else None
            if isinstance(message, dict) and (message.get("content") or not message.get("tool_calls")):
                return True
        return False

    def text_failure(self, text: object) -> str | None:
        if not isinstance(text, str) or not text:
            return _cut("the answer has no text (expected JSON)")
        try:
            instance = orjson.loads(text)
        except orjson.JSONDecodeError:
            try:   # what orjson refuses and json takes: integers past 64 bits
                instance = json.loads(text)
            except ValueError as exc:
                return _cut(f"the answer is not JSON ({_reason(exc)})")
        if self.validator.is_valid(instance):
            return None
        first = next(iter(self.validator.iter_errors(instance)), None)
        if first is None:   # pragma: no cover - is_valid said there is one
            return _cut("the answer does not match the schema")
        return _cut(f"{json_path(first.instance_path)}: {first.message}")


class SchemaValidators:
    """Compiled validators by schema digest, least recently used dropped past max_entries."""

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._checks: OrderedDict[str, SchemaCheck] = OrderedDict()
        self.compiled = 0     # how many schemas were compiled (misses): the cache's own measure

    def __len__(self) -> int:
        return len(self._checks)

    def check_for(self, schema: Mapping[str, Any]) -> SchemaCheck:
        """The compiled check of `schema`; InvalidSchema when it is not a JSON Schema."""
        try:
            canonical = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
        except TypeError as exc:
            raise InvalidSchema(f"the schema cannot be read as JSON: {exc}") from None
        digest = hashlib.sha256(canonical).hexdigest()
        check = self._checks.get(digest)
        if check is not None:
            self._checks.move_to_end(digest)
            return check
        try:
            validator = jsonschema_rs.validator_for(dict(schema), offline=True)
        except jsonschema_rs.ValidationError as exc:
            raise InvalidSchema(_cut(f"{json_path(exc.instance_path)}: {exc.message}")) from None
        except (ValueError, TypeError) as exc:   # what the library refuses before validating
            raise InvalidSchema(_cut(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)) from None
        check = SchemaCheck(validator, digest)
        self.compiled += 1
        self._checks[digest] = check
        if len(self._checks) > self.max_entries:
            self._checks.popitem(last=False)
        return check


def json_path(parts: Any) -> str:
    """`$.items[0].price` from a validator's instance path."""
    out = "$"
    for part in parts or ():
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _reason(exc: Exception) -> str:
    # json's message names what it expected and where, never the text itself.
    return str(exc) if isinstance(exc, json.JSONDecodeError) else type(exc).__name__


def _cut(text: str) -> str:
    return text if len(text) <= ERROR_CHARS else text[:ERROR_CHARS - 1] + "…"


__all__ = ["ERROR_CHARS", "InvalidSchema", "SchemaCheck", "SchemaValidators", "requested_schema"]
