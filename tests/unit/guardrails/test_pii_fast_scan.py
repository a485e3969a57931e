"""The whole-text digit scan (detectors.candidate_pattern, scan_digits) and the keyword
searches written for speed (context.py) find exactly what the patterns and the
windowed scan they replace find: on the three corpora, other generator seeds, random
edits, joined documents and streams fed in random chunks."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.guardrails import context, detectors, emails
from gateway.guardrails.pii import Finding, PiiDetector
from gateway.guardrails.stream import StreamRedactor
from tests.unit.guardrails.pii_corpus import CORPUS_PATH
from tests.unit.guardrails.pii_corpus import generate as generated
from tests.unit.guardrails.pii_structured_corpus import STRUCTURED_PATH
from tests.unit.guardrails.pii_structured_corpus import generate as structured

TYPE_SETS = [
    detectors.DIGIT_TYPES,
    ("ssn",),
    ("credit_card",),
    ("phone_us",),
    ("ssn", "phone_us"),
    ("credit_card", "phone_us"),
]
# What the edits insert: the characters the patterns and the layouts turn on.
EDIT_CHARS = "0123456789 -.()+x\n,;|\t:=\"'@#/abcSsnNoPhoneTel"


def _shared_corpus() -> Path | None:
    for folder in Path(__file__).resolve().parents:
        candidate = folder / "shared" / "pii" / "corpus.jsonl"
        if candidate.is_file():
            return candidate
    return None


def _texts() -> list[str]:
    paths = [CORPUS_PATH, STRUCTURED_PATH]
    shared = _shared_corpus()
    if shared is not None:
        paths.append(shared)
    texts = [str(json.loads(line)["text"]) for path in paths for line in path.read_text().splitlines() if line]
    for seed in (1, 2):
        texts += [str(record["text"]) for record in generated(lines=200, seed=seed)]
        texts += [str(record["text"]) for record in structured(documents=60, seed=seed)]
    return texts


TEXTS = _texts()


def _edited(rng: random.Random, count: int) -> Iterator[str]:
    """Corpus texts with a few random edits (characters, digits, pieces of other
    texts), and several joined into one document."""
    for _ in range(count):
        text = rng.choice(TEXTS)
        for _ in range(rng.randint(1, 6)):
            at, edit = rng.randrange(len(text) + 1), rng.random()
            if edit < 0.4:
                text = text[:at] + rng.choice(EDIT_CHARS) + text[at:]
            elif edit < 0.65:
                text = text[:at] + text[at + 1 :]
            elif edit < 0.85:
                text = text[:at] + rng.choice(TEXTS)[: rng.randint(0, 80)] + text[at:]
            else:
                text = text[:at] + str(rng.randint(0, 10 ** rng.randint(1, 19))) + text[at:]
        yield text
    for _ in range(count // 10):
        yield rng.choice(["\n", " ", "\n\n", ". "]).join(rng.choice(TEXTS) for _ in range(rng.randint(2, 30)))


def _windowed(detector: PiiDetector) -> PiiDetector:
    """The same detector scanning window by window only (the scan before the whole-text one)."""
    detector._candidates = None
    return detector


def test_the_candidate_pattern_finds_what_the_digit_pattern_finds_from_every_position() -> None:
    rng = random.Random(21)
    for types in TYPE_SETS:
        pattern, candidates = detectors.digit_pattern(types), detectors.candidate_pattern(types)
        for text in rng.sample(TEXTS, 150):
            for _ in range(8):
                pos = rng.randrange(len(text) + 1)
                endpos = rng.choice([len(text), rng.randrange(pos, len(text) + 1)])
                expected = pattern.search(text, pos, endpos)
                match = candidates.search(text, pos, endpos)
                assert (match is None) == (expected is None), (types, text, pos, endpos)
                if match is not None and expected is not None:
                    kind = match.lastgroup
                    assert kind is not None and kind == expected.lastgroup, (types, text, pos)
                    assert match.span(kind) == expected.span(), (types, text, pos)
                    bare = [group for group in ("ssn_bare", "phone_bare") if group in candidates.groupindex]
                    assert [match.start(group) for group in bare] == [expected.start(group) for group in bare]


@pytest.mark.parametrize("types", TYPE_SETS)
def test_the_whole_text_scan_finds_what_the_windowed_scan_finds(types: tuple[str, ...]) -> None:
    fast, windowed = PiiDetector(types), _windowed(PiiDetector(types))
    rng = random.Random(len(types))
    texts = TEXTS if types == detectors.DIGIT_TYPES else rng.sample(TEXTS, 600)
    for text in [*texts, *_edited(rng, 1500 if types == detectors.DIGIT_TYPES else 300)]:
        assert fast.find(text) == windowed.find(text), text


def _merged(text: str, custom: dict[str, str]) -> list[Finding]:
    """The findings as the merge was written before: every span sorted by start, the
    longer first, then emails, custom patterns, digits; an overlapped span dropped."""
    spans = [(start, -end, 0, "email") for start, end in emails.scan_email(text)]
    for order, (name, source) in enumerate(custom.items(), 1):
        spans += [(m.start(), -m.end(), order, name) for m in re.finditer(source, text)]
    pattern = detectors.digit_pattern(detectors.DIGIT_TYPES)
    spans += [(start, -end, len(custom) + 1, kind) for kind, start, end in detectors.scan_digits(pattern, text)]
    findings, covered = [], 0
    for start, negative_end, _order, kind in sorted(spans):
        if start >= covered:
            findings.append(Finding(kind, start, -negative_end))
            covered = -negative_end
    return findings


def test_findings_merge_as_before_with_emails_and_custom_patterns() -> None:
    rng = random.Random(5)
    overlapping = ["a@b.co@c.io 123-45-6789", "x 4111111111111111@example.com", "call 555-234-5678@x.io"]
    for custom in ({}, {"employee": r"EMP-\d{6}", "digits": r"\d{3}-\d{2}"}):
        detector = PiiDetector(custom=custom)
        for text in [*overlapping, *rng.sample(TEXTS, 300), *_edited(rng, 300)]:
            assert detector.find(text) == _merged(text, custom), text


def test_streams_fed_in_random_chunks_redact_as_the_windowed_scan() -> None:
    rng = random.Random(9)
    fast, windowed = PiiDetector(), _windowed(PiiDetector())
    for text in [*rng.sample(TEXTS, 150), *_edited(rng, 100)]:
        size = rng.choice([1, 3, 4, 7, 16, 64])
        chunks, at = [], 0
        while at < len(text):
            step = rng.randint(1, size)
            chunks.append(text[at : at + step])
            at += step
        outputs = []
        for detector in (fast, windowed):
            redactor = StreamRedactor(detector)
            outputs.append("".join(redactor.feed(chunk) for chunk in chunks) + redactor.flush())
        assert outputs[0] == outputs[1] == windowed.redact(text)[0], text


def test_the_whole_text_scan_runs_on_prose_and_hands_tables_to_the_windowed_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    original = detectors._scan_windows

    def counting(*args: object, **kwargs: object) -> list[tuple[str, int, int]]:
        calls.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(detectors, "_scan_windows", counting)
    detector = PiiDetector()
    prose = "\n".join(str(record["text"]) for record in generated(lines=50))
    assert detector.find(prose) and not calls
    table = "Export:\nid,ssn,phone\n" + "\n".join(f"{i},{123450000 + i},{5552340000 + i}" for i in range(1, 40))
    assert [f.type for f in detector.find(table)] == ["ssn", "phone_us"] * 39 and calls


# The keyword searches as they were written before (each tried at every position).
_PLAIN = {
    "ssn": r"\b(?:ssn|ss\s?\#|ss\.?\s?(?:no|num|nbr)\b|s\.s\.n\b|social|soc\.?\s?sec|tax(?:payer)?\s+id)",
    "phone_us": r"\b(?:phone|tel|mobile|cell|call|text|sms|fax|whatsapp|contact|dial|reach|voicemail|hotline"
    r"|cb\b|ph\b|mob\b|(?:my|your|his|her|their|our)\s+number)",
    "id": r"\b(?:order|invoice|ticket|case|account|acct|tracking|ref|reference|id|confirmation|transaction"
    r"|txn|receipt|booking|reservation|policy|claim|member|routing|serial|part|sku|batch|isbn|item"
    r"|mrn|npi|imei|employee|emp)\b",
}
_WORDS = [
    *re.findall(r"[a-z]+", _PLAIN["ssn"] + _PLAIN["phone_us"] + _PLAIN["id"]),
    "SSN", "S.S.N.", "Soc. Sec", "SS No", "ss#", "Taxpayer  ID", "Tel", "WhatsApp", "Your  number", "our\nnumber",
    "ID", "David1992", "1992", "_12", "a1", "?", "! ", ". A", ".\n\nB", "\n \n", ". a", "Mr.", "No.", " ", "  ", ",",
    "-", "5552345678", "\t", "é", "K",
]  # fmt: skip


def test_the_context_searches_find_what_the_plain_patterns_find() -> None:
    plain = {kind: re.compile(source, re.ASCII | re.IGNORECASE) for kind, source in _PLAIN.items()}
    fast = {**context._KEYWORDS, "id": context._ID_NOUNS}
    sentence_break = re.compile(r"[?!]\s|\.\s+(?=[A-Z])|\n\s*\n")
    number = re.compile(r"(?<![A-Za-z0-9_])[0-9]+")
    rng = random.Random(3)
    for index in range(20000):
        if index % 2:
            text = "".join(rng.choice(_WORDS) + rng.choice(["", " ", ".", ""]) for _ in range(rng.randint(1, 25)))
        else:
            text = rng.choice(TEXTS)
        pos = rng.randrange(len(text) + 1)
        endpos = rng.randrange(pos, len(text) + 1)
        for kind, pattern in plain.items():
            assert (fast[kind].search(text, pos, endpos) is None) == (pattern.search(text, pos, endpos) is None), (
                kind,
                text[pos:endpos],
            )
        for old, new in ((sentence_break, context._SENTENCE_BREAK), (number, context._NUMBER)):
            assert [m.span() for m in new.finditer(text, pos, endpos)] == [
                m.span() for m in old.finditer(text, pos, endpos)
            ], text[pos:endpos]
