"""PII detection speed, in microseconds per KiB of text (target: under 50 us/KiB),
and detection quality: precision and recall per type on every labeled corpus.

Prints find and redact figures for typical chat text without PII, the same text with
PII in it, number-heavy text (logs, tables, CSV exports), and the densely labeled
corpora; plus streamed redaction fed in token-sized chunks, and what a stream holds.

Run: python bench/pii_bench.py [--seconds 0.5] [--repeat 3] [--quality-only | --speed-only] [--layouts]
(--layouts adds find and redact per layout of the structured corpus's generator.)
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.guardrails.pii import PiiDetector
from gateway.guardrails.stream import StreamRedactor
from tests.unit.guardrails.pii_corpus import CORPUS_PATH, generate
from tests.unit.guardrails.pii_scoring import Span, read_corpus, score_corpus
from tests.unit.guardrails.pii_structured_corpus import STRUCTURED_PATH, Builder
from tests.unit.guardrails.pii_structured_corpus import generate as structured

ROOT = Path(__file__).resolve().parents[1]


def _shared_corpus() -> Path:
    """../shared/pii/corpus.jsonl beside the checkout, or beside a parent folder of it
    (a git worktree under /work/wt/<branch> has the shared folder two levels up)."""
    for folder in ROOT.parents:
        candidate = folder / "shared" / "pii" / "corpus.jsonl"
        if candidate.is_file():
            return candidate
    return ROOT.parent / "shared" / "pii" / "corpus.jsonl"


CORPORA = {
    "generated (tests/unit/guardrails/pii_corpus.jsonl)": CORPUS_PATH,
    "shared (../shared/pii/corpus.jsonl)": _shared_corpus(),
    "structured (tests/unit/guardrails/pii_structured.jsonl)": STRUCTURED_PATH,
}
TYPES = ("ssn", "credit_card", "email", "phone_us")

PROSE = """\
Hi! I'm putting together the quarterly update for the leadership team and could use a hand.
Revenue grew 12% year over year to $4.2M, driven mostly by the enterprise tier, while churn
fell from 3.1% to 2.4% after we shipped the new onboarding flow in March. Support volume was
flat at roughly 1,800 tickets a month, but median first-response time improved to 47 minutes.
Could you turn this into three crisp bullet points, then suggest a short paragraph on risks?
The main ones I see: the Q3 hiring plan (we need 6 engineers and 2 designers by September),
the migration off the legacy billing system, and our dependence on a single cloud region.
Also, please keep the tone upbeat but honest - the board meeting is on Thursday at 10:30 and
Priya wants the draft by Tuesday evening. Thanks so much, this really helps!
def total(items):
    return sum(item.price * item.quantity for item in items if item.active)
The function above returns 0 for an empty list; should it raise instead? I'm on Python 3.11.
"""

PII = [
    "My SSN is 123-45-6789.",
    "Card 4111 1111 1111 1111 exp 12/29.",
    "Email me at jane.doe@example.com.",
    "Call (415) 555-0132 after 5pm.",
    "text me at 2125550199",
]

NUMBERS = """\
2024-03-15T14:23:05Z INFO worker-3 pid=48213 latency_ms=231 status=200 bytes=18234 ip=10.4.12.7
2024-03-15T14:23:06Z WARN worker-1 pid=48207 latency_ms=1893 status=504 bytes=0 ip=10.4.12.9
| order      | qty | unit price | total     | shipped    |
| 1002-33841 |   3 |     $19.99 |    $59.97 | 2024-03-14 |
| 1002-33842 |  12 |      $4.50 |    $54.00 | 2024-03-15 |
ZIP 98101-3143, ISBN 978-0-306-40615-7, part ABC-123-4567-X, build 2024.03.15.1142, v2.14.1
"""


def csv_export(rng: random.Random, size: int) -> str:
    """A CRM export: ids, names, SSNs (most bare), phones, ZIPs, amounts, dates."""
    rows = ["id,name,ssn,phone,zip,balance,created_at"]
    while sum(len(row) + 1 for row in rows) < size:
        ssn = f"{rng.randint(1, 899):03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"
        phone = f"{rng.randint(200, 999)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
        rows.append(
            f"{rng.randint(1, 99999)},Ann Lee,{ssn},{phone},{rng.randint(10000, 99999)},"
            f"{rng.randint(1, 9999)}.{rng.randint(0, 99):02d},2026-03-{rng.randint(1, 28):02d}"
        )
    return "\n".join(rows)[:size]


def repeat_to(text: str, size: int) -> str:
    return (text * (size // len(text) + 1))[:size]


def with_pii(text: str, every: int, rng: random.Random) -> str:
    """`text` with one PII sentence inserted about every `every` characters."""
    out, position = [], 0
    while position < len(text):
        out.append(text[position : position + every])
        out.append(" " + rng.choice(PII) + " ")
        position += every
    return "".join(out)


def us_per_kib(function: Callable[[str], object], text: str, seconds: float, repeat: int = 1) -> float:
    """The median over `repeat` measurements of the fastest of 15 timed batches, in CPU
    time of this process: on a shared machine wall time also counts the waits for a core."""
    if repeat > 1:
        return statistics.median(us_per_kib(function, text, seconds) for _ in range(repeat))
    batches, repeats, best = 15, 1, float("inf")
    while True:
        start = time.process_time()
        for _ in range(repeats):
            function(text)
        if time.process_time() - start >= seconds / batches:
            break
        repeats *= 2
    for _ in range(batches):
        start = time.process_time()
        for _ in range(repeats):
            function(text)
        best = min(best, (time.process_time() - start) / repeats)
    return best * 1e6 / (len(text.encode()) / 1024)


def stream_all(detector: PiiDetector, chunk: int) -> Callable[[str], object]:
    def run(text: str) -> str:
        redactor = StreamRedactor(detector)
        parts = [redactor.feed(text[i : i + chunk]) for i in range(0, len(text), chunk)]
        return "".join(parts) + redactor.flush()

    return run


def quality() -> None:
    detector = PiiDetector()

    def detect(text: str) -> list[Span]:
        return [(finding.type, finding.start, finding.end) for finding in detector.find(text)]

    print(f"{'corpus':58} {'type':12} {'precision':>9} {'recall':>7} {'TP':>5} {'FP':>4} {'FN':>4}")
    for name, path in CORPORA.items():
        if not path.is_file():
            print(f"{name:58} (not present)")
            continue
        scores = score_corpus(read_corpus(path), detect)
        for kind in TYPES:
            score = scores.get(kind)
            if score is None:
                continue
            print(
                f"{name:58} {kind:12} {score.precision:9.4f} {score.recall:7.4f} "
                f"{score.true_positives:5d} {score.false_positives:4d} {score.false_negatives:4d}"
            )


LAYOUTS = {
    "CSV/TSV/pipe/Markdown tables": "table",
    "SQL INSERT/UPDATE/SELECT": "sql",
    "JSON and JSON lines": "json_doc",
    "log lines (key=value)": "log",
    "YAML/INI/query string (key=value)": "keyed_block",
    "CRM notes (prose cues)": "note",
}


def layout_texts(documents: int = 60, seed: int = 7) -> dict[str, str]:
    """The structured generator's documents of one layout each, joined as the corpus case is."""
    builder = Builder(seed)
    return {
        name: "\n".join("".join(value for _, value in getattr(builder, method)()) for _ in range(documents))
        for name, method in LAYOUTS.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    parser.add_argument("--repeat", type=int, default=1, help="print the median of this many measurements")
    parser.add_argument("--quality-only", action="store_true", help="precision and recall only")
    parser.add_argument("--speed-only", action="store_true", help="speed only")
    parser.add_argument("--layouts", action="store_true", help="also find and redact per structured layout")
    args = parser.parse_args()
    if not args.speed_only:
        quality()
    if args.quality_only:
        return
    rng = random.Random(1)
    detector = PiiDetector()
    custom = PiiDetector(custom={"employee_id": r"EMP-\d{6}"})
    texts = {
        "chat text, no PII (4 KiB)": repeat_to(PROSE, 4096),
        "chat text, PII every ~400 chars": with_pii(repeat_to(PROSE, 4096), 400, rng),
        "number-heavy logs/tables, no PII": repeat_to(NUMBERS, 4096),
        "CSV export, SSN and phone columns": csv_export(rng, 4096),
        "synthetic corpus (dense PII)": "\n".join(str(r["text"]) for r in generate(lines=200)),
        "structured corpus (CSV, SQL, JSON, logs)": "\n".join(str(r["text"]) for r in structured(documents=150)),
        "chat text, no PII (256 B message)": repeat_to(PROSE, 256),
    }
    print(f"{'text':42} {'find':>10} {'redact':>10} {'+custom':>10} {'stream/4ch':>11}   (us/KiB)")
    for name, text in texts.items():
        figures = [
            us_per_kib(detector.find, text, args.seconds, args.repeat),
            us_per_kib(detector.redact, text, args.seconds, args.repeat),
            us_per_kib(custom.redact, text, args.seconds, args.repeat),
            us_per_kib(stream_all(detector, 4), text, args.seconds, args.repeat),
        ]
        print(f"{name:42} " + " ".join(f"{figure:10.1f}" for figure in figures[:3]) + f" {figures[3]:11.1f}")
    print("target: find and redact under 50 us/KiB; stream/4ch is streamed redaction fed 4-char chunks")
    if args.layouts:
        print()
        print(f"{'structured layout':42} {'KiB':>10} {'find':>10} {'redact':>10}   (us/KiB)")
        for name, text in layout_texts().items():
            find = us_per_kib(detector.find, text, args.seconds, args.repeat)
            redact = us_per_kib(detector.redact, text, args.seconds, args.repeat)
            print(f"{name:42} {len(text.encode()) / 1024:10.1f} {find:10.1f} {redact:10.1f}")
    print()
    bound = detector.max_match_len
    print(f"{'held back by a stream fed 4-char chunks':42} {'mean':>10} {'max':>10}   (characters; bound {bound})")
    for name, text in texts.items():
        mean, most = held_back(detector, text, 4)
        print(f"{name:42} {mean:10.1f} {most:10d}")


def held_back(detector: PiiDetector, text: str, chunk: int) -> tuple[float, int]:
    """What a stream holds after each chunk: the delay it adds, in characters."""
    redactor, held = StreamRedactor(detector), []
    for i in range(0, len(text), chunk):
        redactor.feed(text[i : i + chunk])
        held.append(redactor.held)
    redactor.flush()
    return sum(held) / len(held), max(held)


if __name__ == "__main__":
    main()
