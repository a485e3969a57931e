"""The shortcuts of gateway/guardrails/{fields,sql_lists}.py find exactly what the plain
path finds: INSERT statements looked for only where "insert" is spelled (against the
case-insensitive regex run over the whole text), and a table line's column cache kept
in texts that also hold INSERT lists (against asking every number's record afresh).
Compared on structured documents of random generator seeds, joined so that tables and
INSERT lists share a text, on random edits of them, and streamed in random chunks."""

from __future__ import annotations

import random
from typing import Literal

import pytest

from gateway.guardrails.fields import Layout
from gateway.guardrails.pii import Finding, PiiDetector
from gateway.guardrails.sql_lists import INSERT, inserts
from gateway.guardrails.stream import StreamRedactor
from tests.unit.guardrails.pii_structured_corpus import generate

DETECTOR = PiiDetector()
# Characters an edit puts in: delimiters, quotes, tuple edges, digits, line ends.
EDITS = "()',;\n\t\"= 0123456789"
SNIPPETS = ["INSERT INTO t (ssn, phone) VALUES (", "insert into x (id,ssn) values ('", "InSeRt ", "ssn,phone\n", ");\n"]


def _texts(seed: int, count: int) -> list[str]:
    """Documents joined by 1 to 4, and random edits of them."""
    rng = random.Random(seed)
    documents = [str(record["text"]) for record in generate(documents=count, seed=seed)]
    texts: list[str] = []
    position = 0
    while position < len(documents):
        step = rng.randint(1, 4)
        texts.append("\n".join(documents[position : position + step]))
        position += step
    for text in list(texts):
        for _ in range(2):
            at = rng.randrange(len(text) + 1)
            insertion = rng.choice(SNIPPETS) if rng.random() < 0.3 else rng.choice(EDITS)
            texts.append(text[:at] + insertion + text[at + rng.randint(0, 3) :])
    return texts


def _uncached(text: str, monkeypatch: pytest.MonkeyPatch) -> list[Finding]:
    """find() with no line cache: every number's table and record are looked up afresh."""
    column = Layout.column

    def fresh(self: Layout, start: int, end: int, final: bool) -> frozenset[str] | Literal[False] | None:
        self._line = None
        return column(self, start, end, final)

    with monkeypatch.context() as patch:
        patch.setattr(Layout, "column", fresh)
        return DETECTOR.find(text)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_findings_with_the_line_cache_equal_those_without(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = _texts(seed, 160)
    assert sum("INSERT" in text and "," in text.split("\n", 1)[0] for text in texts) > 0
    cached_lines = 0
    for text in texts:
        assert DETECTOR.find(text) == _uncached(text, monkeypatch), text
        layout = Layout(text)
        regions = layout.regions()
        if any(region.table.sql for region in regions) and any(not region.table.sql for region in regions):
            cached_lines += 1
    assert cached_lines > 10  # texts where tables and INSERT lists meet were compared


def test_a_number_of_an_insert_list_begun_in_a_table_line_is_judged_by_its_column() -> None:
    # The table's line is cached at 123456789: the INSERT's number must not use it.
    text = "id,ssn\n1,123456789,INSERT INTO t (id, ssn) VALUES (456789012, 1);\n"
    assert [finding.start for finding in DETECTOR.find(text)] == [text.index("123456789")]


def test_the_line_cache_is_used_beside_an_insert_list() -> None:
    text = "INSERT INTO t (id, ssn) VALUES (1, '123456789');\nid,ssn\n1,123456789\n2,234567890\n"
    layout = Layout(text)
    row = text.index("234567890")
    assert layout.column(row, row + 9, True) == frozenset({"ssn"})
    assert layout._line is not None and layout._line[0] == text.index("2,234")
    sql = text.index("123456789")
    fresh = Layout(text)
    assert fresh.column(sql, sql + 9, True) == frozenset({"ssn"})
    assert fresh._line is None  # a line an INSERT list touches is never cached


def _table_with_inserts(rng: random.Random) -> str:
    """A table whose rows an INSERT list begins or ends in, mid-line."""
    rows = [rng.choice(["id,ssn,phone", "ssn;employee_id", "name\tmobile"])]
    for _ in range(rng.randint(2, 6)):
        cells = [rng.choice(["123456789", "234567890", "4155550199", "Ann", "'345678901'", "12"]) for _ in range(3)]
        row = rng.choice([",", ";", "\t"]).join(cells)
        if rng.random() < 0.5:
            statement = rng.choice(["INSERT INTO t (ssn, id) VALUES (", "insert into t (id,phone) values ('",
                                    "INSERT INTO t (id, ssn) VALUES (", "INSERT INTO t (ssn, id) VALUES (1, "])
            row += rng.choice([",", " "]) + statement + rng.choice(["456789012", "2125550199"])
            row += rng.choice(["", ");", "', 7);", ", 1);"])
        rows.append(row)
    return "\n".join(rows) + "\n"


def test_tables_that_insert_lists_begin_in_find_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(11)
    for _ in range(400):
        text = _table_with_inserts(rng)
        assert DETECTOR.find(text) == _uncached(text, monkeypatch), text


def _random_sql_text(rng: random.Random) -> str:
    words = ["INSERT", "insert", "Insert", "iNsErT", "INSERTS", "xinsert", "\u0130nsert", "\u0131nsert", "in\u017fert", "into"]  # I-dot, dotless i, long s
    parts = []
    for _ in range(rng.randint(1, 8)):
        parts.append(rng.choice(words))
        parts.append(rng.choice([" INTO t (a, ssn) VALUES ", " into `x` (ssn)values", " (", " ", "_", "é", "\n"]))
    return "".join(parts)


def test_inserts_are_what_the_regex_finds_over_the_whole_text() -> None:
    rng = random.Random(7)
    found = 0
    for _ in range(3000):
        text = _random_sql_text(rng)
        expected = [match.span() for match in INSERT.finditer(text)]
        assert [match.span() for match in inserts(text)] == expected, text
        found += len(expected)
    assert found > 500


@pytest.mark.parametrize("seed", [4, 5])
def test_streamed_documents_redact_as_the_whole_text(seed: int) -> None:
    rng = random.Random(seed)
    for text in _texts(seed, 60)[:60]:
        redactor = StreamRedactor(DETECTOR)
        parts, position = [], 0
        while position < len(text):
            size = rng.randint(1, 40)
            parts.append(redactor.feed(text[position : position + size]))
            position += size
        assert "".join(parts) + redactor.flush() == DETECTOR.redact(text)[0], text
