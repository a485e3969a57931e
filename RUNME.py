#!/usr/bin/env python3
"""Stand up the LLM gateway platform: `python RUNME.py all [--env dev|prod] [--dry-run]`.

Commands: all | infra | bootstrap | apps | local | status | destroy
(`python RUNME.py --help` says what each one does). Standard library only, so it runs
before anything is installed; the machinery lives in deploy/runme/.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "deploy"))

from runme.cli import main

if __name__ == "__main__":
    sys.exit(main())
