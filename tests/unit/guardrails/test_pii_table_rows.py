"""Table rows decided in bulk (gateway/guardrails/table_rows.py) find exactly what the
per-number path finds: on random tables full of look-alikes and of the layouts that
send a row back to the per-number path (quotes, cards, tabs after a key, rows longer
than the header, CRLF, an unfinished last line), and streamed as well as whole."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import pytest

from gateway.guardrails import table_rows
from gateway.guardrails.fields import RECORD_CAP
from gateway.guardrails.pii import Finding, PiiDetector
from gateway.guardrails.stream import StreamRedactor
from gateway.guardrails.table_rows import Block, TableRows

DETECTOR = PiiDetector()
HEADERS = ["id", "name", "ssn", "phone", "zip", "employee_id", "card_number", "email", "notes", "SS No.", "mobile"]


def _ssn(rng: random.Random) -> str:
    area = rng.choice([rng.randint(1, 899), 0, 666, rng.randint(900, 999)])
    return f"{area:03d}{rng.choice([rng.randint(1, 99), 0]):02d}{rng.choice([rng.randint(1, 9999), 0]):04d}"


def _clean_cell(rng: random.Random) -> str:
    """A cell the bulk path decides: numbers alone in their cell, words, amounts, dates."""
    choices: list[Callable[[], object]] = [
        lambda: _ssn(rng),
        lambda: f"{rng.choice('123456789')}{rng.randint(0, 999999999):09d}",  # 10 digits, NANP or not
        lambda: f"1{rng.randint(100, 999)}{rng.randint(100, 999)}{rng.randint(0, 9999):04d}",  # 11 digits
        lambda: f"  {_ssn(rng)} ",
        lambda: str(rng.randint(0, 99999999)),  # short ids
        lambda: str(rng.randint(10**11, 10**12)),  # 12 digits: nothing
        lambda: "Ann Lee",
        lambda: "jane.doe@example.com",
        lambda: f"{rng.randint(1, 9999)}.{rng.randint(0, 99):02d}",
        lambda: f"2026-03-{rng.randint(1, 28):02d}T12:{rng.randint(0, 59):02d}:00Z",
        lambda: "",
    ]
    return str(rng.choice(choices)())


def _other_cell(rng: random.Random, delimiter: str) -> str:
    """A cell that sends its row to the per-number path."""
    choices: list[Callable[[], object]] = [
        lambda: "4111111111111111",  # a card's length: Luhn and issuer are checked there
        lambda: f"{rng.randint(100, 999)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
        lambda: f"({rng.randint(200, 999)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
        lambda: f'"Lee{delimiter} Ann"',
        lambda: f"call {rng.randint(200, 999)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}",
        lambda: f"ssn: {_ssn(rng)}",
        lambda: "x" * (RECORD_CAP + 5),
    ]
    return str(rng.choice(choices)())


def random_table(rng: random.Random) -> str:
    delimiter = rng.choice([",", ";", "\t", "|"])
    header = rng.sample(HEADERS, rng.randint(2, 7))
    newline = rng.choice(["\n", "\n", "\r\n"])
    lines = [delimiter.join(header)]
    for _ in range(rng.randint(20, 60)):
        width = max(1, len(header) + rng.choice([0, 0, 0, 0, 0, 0, -1, 1, 2]))
        cells = [_clean_cell(rng) for _ in range(width)]
        if rng.random() < 0.1:
            cells[rng.randrange(width)] = _other_cell(rng, delimiter)
        lines.append(delimiter.join(cells))
    before = rng.choice(["", "Here is the export:\n", "name: 123456789\n"])
    after = rng.choice(["", newline, newline + "That is all, call me at 5552345678."])
    return before + newline.join(lines) + after


@pytest.fixture
def bulk_always(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Block]]:
    """Bulk rows for every table, however small, and the blocks decided."""
    monkeypatch.setattr(table_rows, "_COMPILE_AHEAD", 0)
    monkeypatch.setattr(table_rows, "_BULK_AHEAD", 0)
    blocks: list[Block] = []
    original = TableRows.block_after

    def recording(self: TableRows, position: int) -> Block | None:
        block = original(self, position)
        if block is not None:
            blocks.append(block)
        return block

    monkeypatch.setattr(TableRows, "block_after", recording)
    yield blocks


def per_number(text: str, monkeypatch: pytest.MonkeyPatch) -> list[Finding]:
    with monkeypatch.context() as patch:
        patch.setattr(TableRows, "block_after", lambda self, position: None)
        return DETECTOR.find(text)


def test_random_tables_find_the_same_in_bulk_as_number_by_number(
    bulk_always: list[Block], monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(25)
    for _ in range(300):
        text = random_table(rng)
        assert DETECTOR.find(text) == per_number(text, monkeypatch), text
    decided = sum(len(block.found) for block in bulk_always)
    assert len(bulk_always) > 500 and decided > 150, ("the bulk path must decide rows here", len(bulk_always), decided)


def test_a_csv_export_is_decided_in_bulk_after_its_first_row(
    bulk_always: list[Block], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = ["id,name,ssn,phone,zip,created_at"]
    rows += [f"{i},Ann Lee,{123450000 + i},{5552340000 + i},{98100 + i},2026-03-0{1 + i % 9}" for i in range(1, 80)]
    text = "\n".join(rows)
    findings = DETECTOR.find(text)
    assert findings == per_number(text, monkeypatch)
    assert [f.type for f in findings] == ["ssn", "phone_us"] * 79
    assert len(bulk_always) == 1
    block = bulk_always[0]
    assert (block.start, block.end) == (len(rows[0]) + len(rows[1]) + 2, len(text))
    assert len(block.found) == 2 * 78


def test_a_row_the_bulk_path_cannot_decide_goes_back_to_the_per_number_path(
    bulk_always: list[Block], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = ["id,ssn,note"] + [f"{i},{123450000 + i},ok" for i in range(1, 40)]
    rows[20] = '20,123450020,"quoted, with a comma 123-45-6789"'
    rows[30] = "30,4111111111111111,a card in the SSN column"
    text = "\n".join(rows)
    findings = DETECTOR.find(text)
    assert findings == per_number(text, monkeypatch)
    assert ("ssn", "123-45-6789") in [(f.type, text[f.start : f.end]) for f in findings]
    assert len(bulk_always) >= 2  # before and after each row it cannot decide


def test_a_small_table_of_a_new_shape_compiles_no_pattern() -> None:
    shape_count = len(table_rows._COMPILED)
    text = "ssn;phone;mobile;zip;id\n" + "\n".join(f"{123450000 + i};5552340000;5552340000;98101;{i}" for i in range(3))
    text = "Here:\n" + text
    DETECTOR.find(text)
    assert len(table_rows._COMPILED) == shape_count


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_streamed_tables_redact_as_the_whole_text(bulk_always: list[Block], seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(20):
        text = random_table(rng)
        size = rng.choice([1, 4, 7, 64])
        redactor = StreamRedactor(DETECTOR)
        out = "".join(redactor.feed(text[i : i + size]) for i in range(0, len(text), size)) + redactor.flush()
        assert out == DETECTOR.redact(text)[0]
