"""The `llm-gateway` command. Each subcommand lives in its own module and registers itself
on the parser; `main` only dispatches."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gateway.cli import cache_cmd, config_cmd, prompts, serve_command, tenants, usage, usage_drain
from gateway.db import DatabaseMissing


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llm-gateway", description="OpenAI-compatible LLM gateway.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve_command.register(commands)
    config_cmd.register(commands)
    tenants.register(commands)
    prompts.register(commands)
    usage.register(commands)
    cache_cmd.register(commands)
    usage_drain.register(commands)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llm-gateway")
    except PackageNotFoundError:      # run from a checkout that was never installed
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    except DatabaseMissing as exc:
        print(f"llm-gateway: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        # A database that is down or missing is an operator's everyday mistake: one line
        # naming it, not a hundred lines of driver traceback.
        from gateway.db import unreachable_reason
        from gateway.settings import Settings

        reason = unreachable_reason(exc, Settings().database_url)
        if reason is None:
            raise
        print(f"llm-gateway: {reason}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
