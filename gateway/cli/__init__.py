"""The `llm-gateway` command. Each subcommand lives in its own module and registers itself
on the parser; `main` only dispatches."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gateway.cli import cache_cmd, config_cmd, serve_command, tenants, usage


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llm-gateway", description="OpenAI-compatible LLM gateway.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve_command.register(commands)
    config_cmd.register(commands)
    tenants.register(commands)
    usage.register(commands)
    cache_cmd.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
