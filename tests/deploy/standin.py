"""A stand-in for an external tool (terraform, kubectl, helm, aws, llm-gateway, psql...).

Each stand-in executable calls main(tool). It appends its argv (and the GATEWAY_* and
PG* environment and the stdin it saw) as one JSON line to $STANDIN_LOG, then answers from
$STANDIN_RESPONSES: a JSON list of {"tool", "args_contain", "stdout", "stderr", "rc"},
first match wins; without a match it prints nothing and exits 0.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

RECORDED_ENV_PREFIXES = ("GATEWAY_", "PG")


def main(tool: str) -> int:
    argv = sys.argv[1:]
    env = {k: v for k, v in os.environ.items() if k.startswith(RECORDED_ENV_PREFIXES)}
    stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    with open(os.environ["STANDIN_LOG"], "a") as log:
        log.write(json.dumps({"tool": tool, "argv": argv, "env": env, "stdin": stdin}) + "\n")
    responses_file = os.environ.get("STANDIN_RESPONSES")
    responses = json.loads(Path(responses_file).read_text()) if responses_file else []
    joined = " ".join(argv)
    for response in responses:
        if response["tool"] == tool and all(part in joined for part in response.get("args_contain", [])):
            sys.stdout.write(response.get("stdout", ""))
            sys.stderr.write(response.get("stderr", ""))
            return int(response.get("rc", 0))
    return 0


def install(bin_dir: Path, tools: list[str]) -> None:
    """Write one executable per tool into bin_dir."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    here = Path(__file__).resolve().parent
    for tool in tools:
        path = bin_dir / tool
        path.write_text(
            f"#!{sys.executable}\n"
            "import sys\n"
            f"sys.path.insert(0, {str(here)!r})\n"
            "from standin import main\n"
            f"sys.exit(main({tool!r}))\n"
        )
        path.chmod(0o755)
