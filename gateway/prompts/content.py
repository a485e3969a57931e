"""What a prompt version holds, checked once when it is written (it is immutable after).

A version's content is one JSON document (the file `prompts create --file` reads, YAML or JSON):

    model: gpt-4o-mini              # optional: the model when the request names none
    instructions: "You triage tickets for {{product}}."   # a system message ...
    input: "Ticket: {{ticket}}"                            # ... and a user message
    messages:                       # or, instead of instructions/input, chat messages
      - {role: system, content: "..."}
    params: {temperature: 0.2, max_tokens: 300}            # chat-completions names
    variables:                      # optional: types and defaults; a placeholder not
      ticket: string                #   declared here is a required string
      priority: {type: integer, default: 3}
    response_schema: {type: object, ...}                  # optional JSON Schema of the answer
    validation: retry               # optional: pass | retry | reject (a schema-failing answer)
    description: "..."              # optional: what changed in this version

Placeholders are `{{name}}` (spaces inside the braces allowed); any other `{{` is refused,
so that a typo cannot reach a model as literal text.
"""

from __future__ import annotations

import json
import re
from typing import Any

from gateway.errors import InvalidRequest

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
PROMPT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
LATEST = "latest"        # not a label one sets: always the newest version
SHARED_PREFIX = "shared/"
ROLES = ("system", "developer", "user", "assistant")
VARIABLE_TYPES = {"string": (str,), "number": (int, float), "integer": (int,), "boolean": (bool,)}
VALIDATION_POLICIES = ("pass", "retry", "reject")
PARAMS: dict[str, tuple[type, ...]] = {
    "temperature": (int, float), "top_p": (int, float), "max_tokens": (int,), "max_completion_tokens": (int,),
    "presence_penalty": (int, float), "frequency_penalty": (int, float), "seed": (int,), "stop": (str, list),
    "n": (int,), "reasoning_effort": (str,),
}
_KEYS = {"model", "instructions", "input", "messages", "params", "variables", "response_schema", "validation",
         "description"}
MAX_TEXT = 200_000
_VERSION = re.compile(r"^[0-9]{1,9}$")


def as_version(selector: str) -> int | None:
    """The version number a selector names, or None when it is a label."""
    return int(selector) if _VERSION.match(selector) else None


class PromptError(InvalidRequest):
    """A prompt, version or label that cannot be written as given (400 in the admin API)."""


def check_prompt_id(value: str) -> str:
    if not isinstance(value, str) or not PROMPT_ID.match(value):
        raise PromptError("a prompt id is 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit "
                          f"(got {str(value)[:40]!r})", param="id")
    return value


def check_label(value: str) -> str:
    if not isinstance(value, str) or not LABEL.match(value):
        raise PromptError("a label is 1-64 lower-case letters, digits, '_' or '-', starting with a letter "
                          f"(got {str(value)[:40]!r})", param="label")
    if value == LATEST:
        raise PromptError("`latest` always means the newest version; it cannot be set", param="label")
    return value


def placeholders(text: str, where: str) -> list[str]:
    """The variable names in `text`; a `{{` that is not a placeholder is an error."""
    names = PLACEHOLDER.findall(text)
    if PLACEHOLDER.sub("", text).count("{{"):
        raise PromptError(f"{where}: a `{{{{` that is not a `{{{{name}}}}` placeholder (a name is letters, digits "
                          "and '_')", param=where)
    return names


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise PromptError(f"{where} must be a non-empty string", param=where)
    if len(value) > MAX_TEXT:
        raise PromptError(f"{where} is longer than {MAX_TEXT} characters", param=where)
    return value


def _messages(content: dict[str, Any]) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    if "messages" in content:
        if "instructions" in content or "input" in content:
            raise PromptError("a version has either `messages` or `instructions`/`input`, not both",
                              param="messages")
        raw = content["messages"]
        if not isinstance(raw, list) or not raw:
            raise PromptError("`messages` must be a non-empty list", param="messages")
        for i, message in enumerate(raw):
            if not isinstance(message, dict) or set(message) - {"role", "content"}:
                raise PromptError(f"messages[{i}] must be {{role, content}}", param=f"messages[{i}]")
            if message.get("role") not in ROLES:
                raise PromptError(f"messages[{i}].role must be one of {', '.join(ROLES)}",
                                  param=f"messages[{i}].role")
            messages.append({"role": message["role"], "content": _text(message.get("content"),
                                                                        f"messages[{i}].content")})
        return messages
    if content.get("instructions") is not None:
        messages.append({"role": "system", "content": _text(content["instructions"], "instructions")})
    if content.get("input") is not None:
        messages.append({"role": "user", "content": _text(content["input"], "input")})
    if not messages:
        raise PromptError("a version needs `messages`, or `instructions` and/or `input`", param="messages")
    return messages


def _variables(raw: Any) -> dict[str, dict[str, Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PromptError("`variables` must map names to a type or {type, default}", param="variables")
    out: dict[str, dict[str, Any]] = {}
    for name, spec in raw.items():
        if not isinstance(name, str) or not PLACEHOLDER.fullmatch("{{" + name + "}}"):
            raise PromptError(f"variables: {str(name)[:40]!r} is not a name (letters, digits, '_')",
                              param="variables")
        declared = {"type": spec} if isinstance(spec, str) else spec
        if not isinstance(declared, dict) or set(declared) - {"type", "default"} \
                or declared.get("type", "string") not in VARIABLE_TYPES:
            raise PromptError(f"variables.{name}: give a type ({', '.join(VARIABLE_TYPES)}) or {{type, default}}",
                              param=f"variables.{name}")
        kind = declared.get("type", "string")
        entry: dict[str, Any] = {"type": kind}
        if "default" in declared:
            if not is_of_type(declared["default"], kind):
                raise PromptError(f"variables.{name}.default is not a {kind}", param=f"variables.{name}.default")
            entry["default"] = declared["default"]
        out[name] = entry
    return out


def _holds_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            return True
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def is_of_type(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    return isinstance(value, VARIABLE_TYPES[kind])


def check_content(content: Any) -> dict[str, Any]:
    """The content as stored: checked and normalised (instructions/input become messages;
    every placeholder is declared in `variables`)."""
    if not isinstance(content, dict):
        raise PromptError("a version's content must be an object (YAML mapping)", param="content")
    try:
        json.dumps(content)
    except (TypeError, ValueError):      # a YAML date, a set, ...: not JSON
        raise PromptError("a version's content must be plain JSON values (strings, numbers, lists, "
                          "objects)", param="content") from None
    if _holds_nul(content):              # PostgreSQL text cannot hold it
        raise PromptError("a version's content must not contain a NUL character", param="content")
    unknown = sorted(str(k) for k in set(content) - _KEYS)
    if unknown:
        raise PromptError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_KEYS))}",
                          param=unknown[0])
    messages = _messages(content)
    variables = _variables(content.get("variables"))
    for i, message in enumerate(messages):
        for name in placeholders(message["content"], f"messages[{i}].content"):
            variables.setdefault(name, {"type": "string"})
    out: dict[str, Any] = {"messages": messages, "variables": variables}
    model = content.get("model")
    if model is not None:
        out["model"] = _text(model, "model")
    params = content.get("params") or {}
    if not isinstance(params, dict):
        raise PromptError("`params` must be an object", param="params")
    for name, value in params.items():
        kinds = PARAMS.get(name)
        if kinds is None:
            raise PromptError(f"params.{name} is not a parameter a prompt may set; allowed: {', '.join(PARAMS)}",
                              param=f"params.{name}")
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise PromptError(f"params.{name} has the wrong type", param=f"params.{name}")
    out["params"] = dict(params)
    schema = content.get("response_schema")
    if schema is not None:
        if not isinstance(schema, dict) or not schema:
            raise PromptError("`response_schema` must be a JSON Schema object", param="response_schema")
        out["response_schema"] = schema
    validation = content.get("validation")
    if validation is not None:
        if validation not in VALIDATION_POLICIES:
            raise PromptError(f"`validation` must be one of {', '.join(VALIDATION_POLICIES)}", param="validation")
        out["validation"] = validation
    description = content.get("description")
    if description is not None:
        out["description"] = _text(description, "description")[:500]
    return out
