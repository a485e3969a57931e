"""Render or lint a chart with helm-python-sdk; runs under the deploy tools' Python.

Reads a JSON request on stdin ({command, chart, values_files, overrides, release,
namespace}) and prints JSON. Exit code 3: helm-python-sdk is not importable.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of value files: maps merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def main() -> int:
    try:
        import helm_python as helm
        import yaml
    except ImportError as exc:
        print(exc, file=sys.stderr)
        return 3
    helm.disable_logging()
    request = json.load(sys.stdin)
    values: dict[str, Any] = {}
    for path in request["values_files"]:
        with open(path) as handle:
            values = merge(values, yaml.safe_load(handle) or {})
    values = merge(values, request["overrides"])
    if request["command"] == "render":
        chart = helm.Chart.load(request["chart"])
        result: Any = chart.render(
            values, name=request["release"], namespace=request["namespace"], is_install=True
        )
    else:
        result = helm.lint(request["chart"], values, strict=True, namespace=request["namespace"])
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
