"""PII in structured text: a number is judged by the field it fills (a key, a table
column, an INSERT column list), cues may be abbreviated or glued to the value, cards
may be grouped with dots; look-alikes in the same rows and keys stay untouched; and a
stream redacts the same as the whole text, however it is cut."""

from __future__ import annotations

import random

import pytest

from gateway.guardrails.fields import RECORD_CAP, name_kinds
from gateway.guardrails.pii import PII_TYPES, PiiDetector
from gateway.guardrails.stream import StreamRedactor
from tests.unit.guardrails.pii_scoring import Span, read_corpus, score_corpus
from tests.unit.guardrails.pii_structured_corpus import STRUCTURED_PATH, generate

THRESHOLD = 0.98
DETECTOR = PiiDetector()


def found(text: str) -> list[tuple[str, str]]:
    return [(f.type, text[f.start : f.end]) for f in DETECTOR.find(text)]


def detect(text: str) -> list[Span]:
    return [(f.type, f.start, f.end) for f in DETECTOR.find(text)]


def streamed(text: str, sizes: list[int], detector: PiiDetector = DETECTOR) -> str:
    redactor = StreamRedactor(detector)
    out, position, index = [], 0, 0
    while position < len(text):
        size = sizes[index % len(sizes)]
        out.append(redactor.feed(text[position : position + size]))
        assert redactor.held <= detector.max_match_len
        position, index = position + size, index + 1
    return "".join(out) + redactor.flush()


# --- the corpus ------------------------------------------------------------------------


def test_structured_corpus_meets_the_thresholds_per_type() -> None:
    scores = score_corpus(read_corpus(STRUCTURED_PATH), detect)
    problems = []
    for kind in PII_TYPES:
        score = scores[kind]
        assert score.true_positives >= 500, kind
        if score.precision < THRESHOLD or score.recall < THRESHOLD:
            problems.append(f"{kind}: precision {score.precision:.4f} recall {score.recall:.4f} "
                            f"missed {score.misses} false alarms {score.false_alarms}")
    assert not problems, "\n".join(problems)


def test_committed_structured_corpus_is_what_the_generator_writes() -> None:
    committed = read_corpus(STRUCTURED_PATH)
    assert committed == generate(), "regenerate with: python -m tests.unit.guardrails.pii_structured_corpus"


def test_structured_labels_point_at_values_and_traps_outnumber_them() -> None:
    records = generate(documents=200)
    labels = 0
    for record in records:
        text = str(record["text"])
        for span in record["spans"]:  # type: ignore[attr-defined]
            value = text[span["start"] : span["end"]]
            assert value and value == value.strip() and (any(c.isdigit() for c in value) or "@" in value)
            labels += 1
    numbers = sum(len([w for w in str(r["text"]).replace(",", " ").split() if sum(c.isdigit() for c in w) >= 5])
                  for r in records)
    assert numbers >= 2 * labels  # every layout carries at least as many look-alikes as values


# --- layouts -------------------------------------------------------------------------------


def test_csv_column_names_the_values_in_every_row() -> None:
    text = "id,name,ssn,employee_id,zip\n1,Ann,123456789,234567890,981012345\n2,Bob,345678901,456789012,02139\n"
    assert found(text) == [("ssn", "123456789"), ("ssn", "345678901")]


@pytest.mark.parametrize("sep", ["\t", ";", "|", " | "])
def test_other_delimiters_and_markdown(sep: str) -> None:
    lead, trail = ("| ", " |") if sep == " | " else ("", "")
    rows = [["Phone", "order_id", "SS No"], ["2125550199", "3125550199", "123456789"],
            ["---", "---", "---"] if sep == " | " else ["4155550123", "5125550123", "078051120"]]
    text = "".join(lead + sep.join(row) + trail + "\n" for row in rows)
    kinds = [kind for kind, _ in found(text)]
    assert kinds == (["phone_us", "ssn"] if sep == " | " else ["phone_us", "ssn", "phone_us", "ssn"])
    assert ("phone_us", "3125550199") not in found(text)


def test_quoted_csv_cells_with_the_delimiter_inside() -> None:
    text = 'name,balance,ssn\n"Lee, Ann","$64,082.43","123456789"\n"Ng, Bo","$1,000.00",234567890\n'
    assert found(text) == [("ssn", "123456789"), ("ssn", "234567890")]


def test_sql_insert_column_list_and_set_where() -> None:
    text = ("INSERT INTO people (id, name, ssn, phone, npi) VALUES\n"
            "  (1, 'Ann (Jr)', '123456789', '(212) 555-0199', '2125550199'),\n"
            "  (2, 'Bob', 234567890, '3125550100', 1234567893);\n"
            "UPDATE people SET ssn = '345678901' WHERE employee_id = 456789012;\n")
    assert found(text) == [("ssn", "123456789"), ("phone_us", "(212) 555-0199"), ("ssn", "234567890"),
                           ("phone_us", "3125550100"), ("ssn", "345678901")]


def test_json_logfmt_query_and_xml_keys() -> None:
    assert found('{"emp_no": "234567890", "customerSSN": "123456789", "ssn_last4": "6789"}') == [
        ("ssn", "123456789")]
    assert found("ts=2026-03-01 user_id=234567890 ssn=123456789 phone=2125550199 order=3125550199") == [
        ("ssn", "123456789"), ("phone_us", "2125550199")]
    assert found("GET /v?member_id=234567890&soc_sec_no=123456789 HTTP/1.1") == [("ssn", "123456789")]
    assert found("<member>234567890</member><ssn>123456789</ssn>") == [("ssn", "123456789")]


def test_a_key_that_is_followed_by_prose_leaves_the_sentence_to_decide() -> None:
    assert found("Note: 123456789 is my SSN") == [("ssn", "123456789")]
    assert found("emp_no: 234567890, ssn: 123-45-6789") == [("ssn", "123-45-6789")]


def test_abbreviated_and_glued_cues() -> None:
    assert found("Cust. verified SS No. 123456789 on file.") == [("ssn", "123456789")]
    assert found("Soc. Sec. No. 123456789 confirmed.") == [("ssn", "123456789")]
    assert found("S.S.N. 123456789") == [("ssn", "123456789")]
    assert found("SSN no.123-45-6789 (verified)") == [("ssn", "123-45-6789")]
    assert found("cb 2125550199 after 3pm") == [("phone_us", "2125550199")]
    assert found("Tel.2125550199") == [("phone_us", "2125550199")]
    # the same glue on identifiers names nothing
    assert found("Ref no.123456789 closed, see order no.2125550199.") == []
    assert found("v.2125550199 build.123-45-6789") == []


def test_dot_grouped_cards_and_their_look_alikes() -> None:
    assert found("Card on file 4111.1111.1111.1111 exp 11/28") == [("credit_card", "4111.1111.1111.1111")]
    assert found("PO 4111.1111.1111.1112 rejected; build 2024.03.15.1142; ip 10.4.12.7") == []


def test_card_issuers_and_lengths() -> None:
    assert found("IMEI 353918051234563 reported stolen") == []  # 15 digits, Luhn-valid, not Amex
    assert found("Amex 378282246310005") == [("credit_card", "378282246310005")]
    assert found("Txn 4111111111111111 settled") == []  # an identifier's name before it
    assert found("transaction_id=4111111111111111 card=4012888888881881") == [("credit_card", "4012888888881881")]


@pytest.mark.parametrize(("name", "kinds"), [
    ("SSN#", {"ssn"}), ("social_security_number", {"ssn"}), ("patientSSN", {"ssn"}), ("SS No", {"ssn"}),
    ("Mobile #", {"phone_us"}), ("cb", {"phone_us"}), ("phoneNumber", {"phone_us"}),
    ("cc_number", {"credit_card"}), ("emailAddress", {"email"}), ("order_id", {"id"}), ("imei", {"id"}),
    ("name", set()), ("dob", set()), ("amount", set()),
])
def test_field_names(name: str, kinds: set[str]) -> None:
    assert name_kinds(name) == frozenset(kinds)


def test_a_table_ends_at_a_line_without_its_delimiter() -> None:
    text = "name,ssn\nAnn,123456789\n\nBob,234567890 is an employee id\n"
    assert found(text) == [("ssn", "123456789")]


# --- streams -------------------------------------------------------------------------------


def csv_with_ssns(rows: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    lines = ["id,name,ssn,employee_id,zip,phone"]
    for row in range(rows):
        ssn = f"{rng.randint(1, 665):03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"
        lines.append(f"{row},Ann Lee,{ssn},{rng.randint(100000000, 899999999)},{rng.randint(10000, 99999)},"
                     f"{rng.randint(200, 999)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("sizes", [[1], [3], [4, 1, 7], [13], [64], [500]])
def test_a_streamed_csv_is_redacted_as_the_whole_text(sizes: list[int]) -> None:
    text = csv_with_ssns(60)  # the header is far behind any kept context by the last rows
    expected, findings = DETECTOR.redact(text)
    assert sum(f.type == "ssn" for f in findings) == 60 and sum(f.type == "phone_us" for f in findings) == 60
    assert streamed(text, sizes) == expected


def test_every_structured_document_streams_as_the_whole_text() -> None:
    rng = random.Random(3)
    for record in generate(documents=300):
        text = str(record["text"])
        sizes = [rng.choice([1, 2, 3, 4, 5, 8, 13, 40]) for _ in range(8)]
        assert streamed(text, sizes) == DETECTOR.redact(text)[0], text


def test_rows_longer_than_the_cap_are_judged_the_same_streamed() -> None:
    long_note = "x" * (RECORD_CAP + 50)
    text = f"ssn,note,ssn\n123456789,{long_note},234567890\n345678901,short,456789012\n"
    expected = DETECTOR.redact(text)[0]
    assert "234567890" in expected  # past the cap a cell is no longer judged by its column
    assert "345678901" not in expected and "456789012" not in expected  # the next row is again
    for sizes in ([1], [5], [97]):
        assert streamed(text, sizes) == expected


def test_a_cell_is_held_only_until_it_closes() -> None:
    redactor = StreamRedactor(DETECTOR)
    out = redactor.feed("id,ssn,zip\n1,123456789")
    assert out == "id,ssn,zip\n1,"
    assert redactor.feed(",98101\n") == "[REDACTED-SSN],98101\n"
    assert redactor.flush() == ""


def test_names_and_layouts_written_apart_from_the_corpus() -> None:
    export = "Last Name,First Name,SSN (no dashes),Home Ph,Hire Date\nSmith,Jo,123456789,2125550147,2019-04-01\n"
    assert found(export) == [("ssn", "123456789"), ("phone_us", "2125550147")]
    tsv = "emp_id\tsoc_sec_num\tcellular\n100234567\t345678901\t4155550123\n"
    assert found(tsv) == [("ssn", "345678901"), ("phone_us", "4155550123")]
    assert found("| Member # | Soc. Sec. # | Contact No. |\n|---|---|---|\n| 881234567 | 567890123 | 6175550100 |\n") == [
        ("ssn", "567890123"), ("phone_us", "6175550100")]
    assert found("user{id=234567890, ssn=345678901, tel=2125550100}") == [("ssn", "345678901"), ("phone_us", "2125550100")]
    assert found("SSN:123456789;DOB:1990-01-01;Zip:981012345") == [("ssn", "123456789")]
    assert found("Patient MRN 234567890, SS# on file: 345-67-8901") == [("ssn", "345-67-8901")]


def test_a_postgresql_copy_block_is_a_table() -> None:
    rows = "".join(f"{i}\t{123456780 + i}\t21255501{10 + i}\t{234567800 + i}\n" for i in range(30))
    text = f"Here is the dump:\nCOPY public.people (id, ssn, phone, employee_id) FROM stdin;\n{rows}\\.\n\n123456789\n"
    expected, findings = DETECTOR.redact(text)
    assert [f.type for f in findings] == ["ssn", "phone_us"] * 30  # not the employee ids, nor after "\\."
    for sizes in ([1], [4], [7, 3]):
        assert streamed(text, sizes) == expected
