"""LiteLLM's proxy on the benchmark's fake upstream, for `python -m bench.run --compare litellm`.

LiteLLM lives in a virtualenv of its own (.venv-litellm at the checkout's root), never in
the project's: its dependency pins would otherwise decide the gateway's. It is made on
first use, or beforehand with

    python -m bench.litellm_proxy --install      # pip install 'litellm[proxy]==VERSION' into .venv-litellm

LiteLLM runs at its defaults (one worker, its default log level), without a database: its
lightest configuration, with no spend tracking or per-key limits (the gateway does both). Its
master key is the benchmark's tenant key, so the same requests authenticate on both.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-litellm"
VERSION = "1.108.7"
_BIN = VENV / "bin"


def installed() -> bool:
    return (_BIN / "litellm").exists()


def install() -> None:
    if not (_BIN / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(_BIN / "pip"), "install", "-q", f"litellm[proxy]=={VERSION}"], check=True)


def version() -> str:
    done = subprocess.run([str(_BIN / "python"), "-c", "from importlib.metadata import version; "
                           "print(version('litellm'))"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


def config(upstream_port: int) -> str:
    return f"""
model_list:
  - model_name: bench-model
    litellm_params:
      model: openai/bench-model
      api_base: http://127.0.0.1:{upstream_port}/v1
      api_key: sk-bench-upstream
"""


def env(master_key: str) -> dict[str, str]:
    values = dict(os.environ)
    values["LITELLM_MASTER_KEY"] = master_key
    # The model price map from the package, not fetched from GitHub at start (no network here).
    values["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    values.pop("DATABASE_URL", None)
    return values


def command(config_path: Path, port: int) -> list[str]:
    return [str(_BIN / "litellm"), "--config", str(config_path), "--host", "127.0.0.1", "--port", str(port),
            "--num_workers", "1"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--install", action="store_true", help=f"install litellm[proxy]=={VERSION} into {VENV}")
    args = parser.parse_args()
    if args.install or not installed():
        install()
    print(f"LiteLLM {version()} in {VENV}")


if __name__ == "__main__":
    main()
