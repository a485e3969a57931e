"""A unified diff of two prompt versions' contents, each written as YAML in the order a
person writes it (model, messages, params, ...), so that a changed word shows as one line."""

from __future__ import annotations

import difflib
from typing import Any

import yaml

_ORDER = ("description", "model", "messages", "variables", "params", "response_schema", "validation")


def as_text(content: dict[str, Any]) -> str:
    ordered = {key: content[key] for key in _ORDER if key in content and content[key] not in ({}, None)}
    ordered.update({k: v for k, v in content.items() if k not in ordered and k not in _ORDER})
    text: str = yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True, width=100)
    return text


def unified_diff(old: dict[str, Any], new: dict[str, Any], old_name: str, new_name: str) -> str:
    lines = difflib.unified_diff(as_text(old).splitlines(keepends=True), as_text(new).splitlines(keepends=True),
                                 fromfile=old_name, tofile=new_name)
    return "".join(lines)
