"""Streamed-response redaction: matches split across chunks are redacted, text that
cannot be part of a match is not held, and the concatenated output always equals
redacting the whole text at once."""

from __future__ import annotations

import random

import pytest

from gateway.guardrails.pii import PiiDetector
from gateway.guardrails.stream import StreamRedactor
from tests.unit.guardrails.pii_corpus import generate

DETECTOR = PiiDetector(custom={"employee_id": r"EMP-\d{6}", "ticket": r"TKT-[A-Z]+-\d+"})


def stream(chunks: list[str], detector: PiiDetector = DETECTOR) -> tuple[list[str], StreamRedactor]:
    redactor = StreamRedactor(detector)
    outputs = []
    for chunk in chunks:
        outputs.append(redactor.feed(chunk))
        assert redactor.held <= detector.max_match_len
    outputs.append(redactor.flush())
    assert redactor.held == 0
    return outputs, redactor


def test_card_split_over_three_chunks_comes_out_redacted() -> None:
    outputs, redactor = stream(["Your card 4111 11", "11 1111 1", "111 is on file."])
    assert "".join(outputs) == "Your card [REDACTED-CREDIT_CARD] is on file."
    assert not any(digit in "".join(outputs) for digit in "14")
    assert outputs[0] == "Your card "  # what precedes the number is not delayed
    assert redactor.counts == {"credit_card": 1}


def test_every_split_of_every_type_is_redacted() -> None:
    text = "SSN 123-45-6789, card 4111111111111111, bob.smith@example.com, (212) 555-0199 x12, EMP-123456."
    expected, _ = DETECTOR.redact(text)
    for first in range(len(text)):
        for second in range(first, len(text), 7):
            outputs, _ = stream([text[:first], text[first:second], text[second:]])
            assert "".join(outputs) == expected, (first, second)


def test_plain_prose_is_held_by_at_most_the_word_being_written() -> None:
    redactor = StreamRedactor(DETECTOR)
    assert redactor.feed("The weather") == "The "
    assert redactor.feed(" is nice") == "weather is "
    assert redactor.feed(" today.\n") == "nice today.\n"
    assert redactor.flush() == ""


def test_prose_without_email_detection_is_not_held_at_all() -> None:
    redactor = StreamRedactor(PiiDetector(types=["ssn", "credit_card", "phone_us"]))
    assert redactor.feed("The weather") == "The weather"
    assert redactor.feed(" is nice") == " is nice"
    assert redactor.feed(" at 10") == " at "
    assert redactor.feed(":30 today") == "10:30 today"


def test_a_bare_number_waits_for_a_keyword_that_may_follow() -> None:
    redactor = StreamRedactor(PiiDetector(types=["ssn"]))
    assert redactor.feed("I typed 123456789") == "I typed "
    assert redactor.feed(" into the") == ""
    assert redactor.feed(" SSN field.") == "[REDACTED-SSN] into the SSN field."
    assert redactor.feed(" Order 234567890 shipped.") == " Order 234567890 shipped."


def test_hold_back_never_exceeds_the_longest_match() -> None:
    detector = PiiDetector(types=["ssn", "credit_card", "phone_us"])
    redactor = StreamRedactor(detector)
    digits = "1 2 3 4 5 6 7 8 9 0 " * 20
    for char in digits:
        assert redactor.feed(char) is not None
        assert redactor.held <= 34 - 1  # the longest phone form, less one


def test_flush_emits_what_is_still_held_redacted() -> None:
    outputs, redactor = stream(["contact: bob@exa", "mple.com"])
    assert outputs[-1] == "[REDACTED-EMAIL]"
    assert "".join(outputs) == "contact: [REDACTED-EMAIL]"
    assert redactor.counts == {"email": 1}


def test_empty_chunks_and_empty_stream() -> None:
    outputs, redactor = stream(["", "", ""])
    assert outputs == ["", "", "", ""]
    assert redactor.counts == {}


def _random_chunks(text: str, rng: random.Random) -> list[str]:
    chunks, position = [], 0
    while position < len(text):
        size = rng.choice([1, 1, 2, 3, 4, 5, 8, 13, 40])
        chunks.append(text[position : position + size])
        position += size
    return chunks


@pytest.mark.parametrize("seed", range(4))
def test_random_chunkings_of_corpus_text_equal_redacting_the_whole(seed: int) -> None:
    """Property: for any chunking, output == redact(whole text), and counts agree."""
    rng = random.Random(seed)
    records = generate(lines=150, seed=seed)
    for record in records:
        text = str(record["text"])
        expected, findings = DETECTOR.redact(text)
        for _ in range(3):
            outputs, redactor = stream(_random_chunks(text, rng))
            assert "".join(outputs) == expected, text
            assert sum(redactor.counts.values()) == len(findings)


def test_random_chunkings_of_dense_adversarial_text() -> None:
    """Numbers, separators and keywords packed together, where boundaries matter most."""
    rng = random.Random(7)
    atoms = (
        "4111 1111 1111 1111|4111111111111111|123-45-6789|123456789|SSN|phone|order|(212) 555-0199"
        "|212-555-0199|+1|x12|ext.|bob@example.com|@|.|-| | |\n|12/29|EMP-123456|TKT-AB-99|0|7|call|?"
        "|. The|a@b|2125550199"
    ).split("|")
    for _ in range(300):
        text = "".join(rng.choice(atoms) + rng.choice(["", " ", " ", ", "]) for _ in range(rng.randint(3, 25)))
        expected, _ = DETECTOR.redact(text)
        for _ in range(3):
            outputs, _ = stream(_random_chunks(text, rng))
            assert "".join(outputs) == expected, text
