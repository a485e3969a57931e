"""Rendering a stored prompt version into a chat request (pure functions).

    render(content, variables, names)  the version's messages with `{{variables}}` filled in
    apply(body, rendered, ...)         a chat body with the prompt in it

Substitution is one pass over the template: a value is inserted as it is and never read
again, so a value holding `{{x}}` reaches the model as those characters. Errors are the
client's (400), naming where the request put the offending value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gateway.errors import InvalidRequest
from gateway.prompts.content import PLACEHOLDER, is_of_type

_NAME = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True)
class Params:
    """Where the request named the prompt and its variables, for error messages."""

    variables: str = "prompt.variables"


@dataclass(frozen=True, slots=True)
class Rendered:
    messages: list[dict[str, Any]]
    model: str | None
    params: dict[str, Any]
    response_schema: dict[str, Any] | None
    validation: str | None


def _value(value: Any, kind: str, where: str) -> str:
    # OpenAI's Responses API sends a text variable as an input_text item: its text is the value.
    if kind == "string" and isinstance(value, dict) and value.get("type") == "input_text" \
            and isinstance(value.get("text"), str):
        value = value["text"]
    if not is_of_type(value, kind):
        raise InvalidRequest(f"Prompt variable `{where.rpartition('.')[2]}` must be a {kind}.", param=where,
                             code="invalid_prompt_variable")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(content: dict[str, Any], variables: dict[str, Any], names: Params) -> Rendered:
    declared: dict[str, dict[str, Any]] = content.get("variables") or {}
    values: dict[str, str] = {}
    for name, spec in declared.items():
        where = f"{names.variables}.{name}"
        if name in variables and variables[name] is not None:
            values[name] = _value(variables[name], spec["type"], where)
        elif "default" in spec:
            values[name] = _value(spec["default"], spec["type"], where)
        else:
            raise InvalidRequest(f"Prompt variable `{name}` is missing: the prompt needs "
                                 f"{', '.join(sorted(declared))}.", param=where, code="missing_prompt_variable")
    # Variables the version does not use are ignored: a label moved to a version that dropped
    # one must not break the clients that still send it.
    messages = [{"role": m["role"], "content": PLACEHOLDER.sub(lambda match: values[match.group(1)], m["content"])}
                for m in content["messages"]]
    return Rendered(messages=messages, model=content.get("model"), params=dict(content.get("params") or {}),
                    response_schema=content.get("response_schema"), validation=content.get("validation"))


def apply(body: dict[str, Any], rendered: Rendered, prompt_id: str) -> dict[str, Any]:
    """A new chat body: the prompt's messages, then the request's own; the request's model
    and parameters win over the prompt's defaults; the prompt's response schema becomes
    `response_format` unless the request has one."""
    out = dict(body)
    own = body.get("messages")
    out["messages"] = [*rendered.messages, *(own if isinstance(own, list) else [])]
    if not body.get("model") and rendered.model:
        out["model"] = rendered.model
    limits_set = body.get("max_tokens") is not None or body.get("max_completion_tokens") is not None
    for name, value in rendered.params.items():
        if name in ("max_tokens", "max_completion_tokens") and limits_set:
            continue
        if body.get(name) is None:
            out[name] = value
    if rendered.response_schema is not None and body.get("response_format") is None:
        out["response_format"] = {"type": "json_schema",
                                  "json_schema": {"name": _NAME.sub("_", prompt_id)[:64],
                                                  "schema": rendered.response_schema}}
    return out
