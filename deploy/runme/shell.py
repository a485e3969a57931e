"""Runs external commands in order, or prints them under --dry-run."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


class StepFailed(Exception):
    """A command failed; the run stops here."""


@dataclass
class Result:
    returncode: int
    stdout: str = ""


@dataclass
class Runner:
    """Every external command goes through `run`, so --dry-run can show them all."""

    dry_run: bool = False
    out: object = field(default=sys.stdout)

    def say(self, message: str) -> None:
        print(message, file=self.out, flush=True)  # type: ignore[call-overload]

    def run(
        self,
        argv: Sequence[str],
        *,
        capture: bool = False,
        ok_codes: Sequence[int] = (0,),
        env: Mapping[str, str] | None = None,
        dry_run_stdout: str = "",
        dry_run_returncode: int = 0,
        secret_env: Sequence[str] = (),
        stdin: str | None = None,
    ) -> Result:
        """Run argv; raise StepFailed unless its exit code is in ok_codes.

        Under --dry-run nothing runs: the command is printed and dry_run_stdout stands
        in for its output. Values of secret_env are never printed, nor is stdin (a
        password piped to `docker login`, say).
        """
        self.say(("[dry-run] " if self.dry_run else "+ ") + self.render(argv, env, secret_env))
        if self.dry_run:
            return Result(dry_run_returncode, dry_run_stdout)
        full_env = {**os.environ, **env} if env else None
        try:
            completed = subprocess.run(
                list(argv),
                env=full_env,
                text=True,
                input=stdin,
                stdout=subprocess.PIPE if capture else None,
                stderr=subprocess.PIPE if capture else None,
                check=False,
            )
        except FileNotFoundError as exc:
            raise StepFailed(f"`{argv[0]}` is not installed or not on PATH") from exc
        if completed.returncode not in ok_codes:
            detail = (completed.stderr or "").strip() if capture else ""
            message = f"`{shlex.join(argv)}` exited with {completed.returncode}"
            raise StepFailed(message + (f":\n{detail}" if detail else ""))
        return Result(completed.returncode, completed.stdout or "")

    @staticmethod
    def render(argv: Sequence[str], env: Mapping[str, str] | None, secret_env: Sequence[str]) -> str:
        shown = [
            f"{name}={'***' if name in secret_env else shlex.quote(value)}"
            for name, value in (env or {}).items()
        ]
        return " ".join([*shown, shlex.join(argv)])
