"""Each built-in detector on real-world positives and look-alike negatives, custom
patterns, and the detector's contract (sorted, non-overlapping, tags, bounds)."""

from __future__ import annotations

import itertools
import re

import pytest

from gateway.guardrails.detectors import CONTEXT_WINDOW
from gateway.guardrails.pattern_shape import pattern_shape
from gateway.guardrails.pii import CUSTOM_MAX_MATCH_LEN, PII_TYPES, Finding, PiiDetector, luhn_valid
from tests.unit.guardrails.pii_corpus import generate

DETECTOR = PiiDetector()


def found(text: str, detector: PiiDetector = DETECTOR) -> list[tuple[str, str]]:
    return [(f.type, text[f.start : f.end]) for f in detector.find(text)]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("My SSN is 123-45-6789.", "123-45-6789"),
        ("SSN 078 05 1121 on file", "078 05 1121"),
        ("ssn: 001-01-0001", "001-01-0001"),
        ("SSN=899-99-9999;", "899-99-9999"),
        ("Social Security number 123456789", "123456789"),
        ("my social is 123456789", "123456789"),
        ("I typed 234567890 into the SSN field", "234567890"),
        ('{"ssn": "123-45-6789"}', "123-45-6789"),
        ("(SS# 345-67-8901)", "345-67-8901"),
    ],
)
def test_ssn_positives(text: str, value: str) -> None:
    assert found(text) == [("ssn", value)]


@pytest.mark.parametrize(
    "text",
    [
        "SSN 000-12-3456",  # area 000
        "SSN 666-12-3456",  # area 666
        "SSN 912-34-5678",  # 9xx area (ITIN range)
        "SSN 123-00-4567",  # group 00
        "SSN 123-45-0000",  # serial 0000
        "order 123456789 shipped",  # bare nine digits with no SSN keyword
        "SSN on file. Order 123456789 shipped.",  # the keyword is in another sentence
        "ZIP 98101-3143",
        "id 1123-45-67890",  # embedded in a longer number
        "ABC-123-45-6789",  # part of a part number
        "123-45-6789-01",
        "SSN XXX-XX-6789",
        "version 123.45.6789",
        "SSN 123-45 6789",  # mixed separators
        "scores 5 123 45 6789 1",  # spaced digits inside a longer list
    ],
)
def test_ssn_negatives(text: str) -> None:
    assert [kind for kind, _ in found(text) if kind == "ssn"] == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("card 4111111111111111 please", "4111111111111111"),
        ("Visa 4111 1111 1111 1111 exp 12/29", "4111 1111 1111 1111"),
        ("MC 5555-5555-5555-4444.", "5555-5555-5555-4444"),
        ("Amex 3782 822463 10005", "3782 822463 10005"),
        ("Amex 378282246310005", "378282246310005"),
        ("Diners 3056 930902 5904", "3056 930902 5904"),
        ("Discover 6011 1111 1111 1117", "6011 1111 1111 1117"),
        ("JCB 3530111333300000", "3530111333300000"),
        ("old Visa 4222222222222", "4222222222222"),
        ("MC 2-series 2223 0031 2200 3222", "2223 0031 2200 3222"),
        ("Card: 4111 1111 1111 1111 12/29", "4111 1111 1111 1111"),
        ("UnionPay 6200 0000 0000 0000 000", "6200 0000 0000 0000 000"),
        ("(4012888888881881)", "4012888888881881"),
    ],
)
def test_card_positives(text: str, value: str) -> None:
    assert found(text) == [("credit_card", value)]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111111111111112",  # Luhn fails
        "card 4111 1111 1111 1112",
        "ISBN 9780306406157",  # ISBN-13, 978 prefix
        "ISBN 978-0-306-40615-7",
        "tracking 9400 1000 0000 0000 0000 00",  # USPS, 22 digits
        "id 14111111111111111",  # 17 digits whose tail is a valid card
        "ref 41111111111111110000",  # 20+ digits
        "acct 4111 1111 1111 1111 1234",  # a fifth group of four: a longer number
        "mixed 4111 1111-1111 1111",
        "epoch ms 1710512585123",
        "ORD-4111111111111111",
        "uuid 4111111111111111-abcd",
    ],
)
def test_card_negatives(text: str) -> None:
    assert [kind for kind, _ in found(text) if kind == "credit_card"] == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("mail bob@example.com.", "bob@example.com"),
        ("<Jane.Doe+news@mail.example.co.uk>", "Jane.Doe+news@mail.example.co.uk"),
        ("(x_y-z@sub-domain.example.org)", "x_y-z@sub-domain.example.org"),
        ("'q@q.io', next", "q@q.io"),
        ("mailto:alice@acme.com?subject=hi", "alice@acme.com"),
        ("email: BOB@EXAMPLE.COM", "BOB@EXAMPLE.COM"),
        ("5551234567@vtext.com", "5551234567@vtext.com"),
        ("write to first.last@xn--bcher-kva.example", "first.last@xn--bcher-kva.example"),
    ],
)
def test_email_positives(text: str, value: str) -> None:
    assert found(text) == [("email", value)]


@pytest.mark.parametrize(
    "text",
    [
        "ping @user about it",
        "user@localhost",
        "npm i lodash@4.17.21",
        "git@github.com:acme/widgets.git",
        "admin@192.168.0.1",
        "name@",
        "@everyone",
        "bob at example dot com",
        "a..b",
    ],
)
def test_email_negatives(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Call (415) 555-0132 today", "(415) 555-0132"),
        ("cell 415-555-0132.", "415-555-0132"),
        ("415.555.0132", "415.555.0132"),
        ("415 555 0132", "415 555 0132"),
        ("+1 415 555 0132", "+1 415 555 0132"),
        ("+1-415-555-0132", "+1-415-555-0132"),
        ("1-800-555-0199", "1-800-555-0199"),
        ("+1 (212) 555-0199", "+1 (212) 555-0199"),
        ("(212)555-0199", "(212)555-0199"),
        ("+12125550199", "+12125550199"),
        ("+1 212-555-0199", "+1 212-555-0199"),
        ("Office 212-555-0199 x204", "212-555-0199 x204"),
        ("Office 212-555-0199 ext. 12", "212-555-0199 ext. 12"),
        ("text me at 2125550199", "2125550199"),
        ("my number is 2125550199", "2125550199"),
        ("2125550199 is my cell", "2125550199"),
    ],
)
def test_phone_positives(text: str, value: str) -> None:
    assert found(text) == [("phone_us", value)]


@pytest.mark.parametrize(
    "text",
    [
        "(055) 234-5678",  # area code starts with 0
        "155-234-5678",  # area code starts with 1
        "415-055-0132",  # exchange starts with 0
        "415-155-0132",  # exchange starts with 1
        "ZIP+4 98101-3143",
        "ISBN 0-306-40615-2",
        "ISBN 0306406152",
        "part ABC-415-555-0132-X",
        "order 4155550132 shipped",  # bare ten digits, no phone keyword
        "Order 4155550132 shipped; call us if it is late.",  # named as an order already
        "id 94155550132",  # inside a longer number
        "id 4155550132789",
        "1710512585",  # Unix time
        "date 2024-01-15 12:30",
        "ip 212.155.100.200",
        "415-555-0132-77",
        "v415.555.0132",
    ],
)
def test_phone_negatives(text: str) -> None:
    assert [kind for kind, _ in found(text) if kind == "phone_us"] == []


def test_lists_of_numbers_are_each_found() -> None:
    text = "cards 4111111111111111 5555555555554444; phones 212-555-0199 415-555-0132; SSNs 123-45-6789 234-56-7890"
    assert [kind for kind, _ in found(text)] == ["credit_card"] * 2 + ["phone_us"] * 2 + ["ssn"] * 2


def test_redact_uses_upper_cased_type_tags() -> None:
    text = "SSN 123-45-6789, card 4111 1111 1111 1111, bob@example.com, (212) 555-0199."
    redacted, findings = DETECTOR.redact(text)
    assert redacted == "SSN [REDACTED-SSN], card [REDACTED-CREDIT_CARD], [REDACTED-EMAIL], [REDACTED-PHONE_US]."
    assert [f.type for f in findings] == ["ssn", "credit_card", "email", "phone_us"]


def test_redact_without_findings_returns_the_same_text() -> None:
    text = "nothing to see at 10:30 on 2024-01-15"
    assert DETECTOR.redact(text) == (text, [])


def test_findings_are_sorted_and_do_not_overlap() -> None:
    text = "5551234567@vtext.com and 4111111111111111 then a@b.co"
    findings = PiiDetector(custom={"digits": r"\d{4,}"}).find(text)
    assert findings == sorted(findings, key=lambda f: f.start)
    assert all(a.end <= b.start for a, b in itertools.pairwise(findings))
    assert findings[0] == Finding("email", 0, 20)  # the longer of two matches at one start wins


def test_types_can_be_narrowed() -> None:
    detector = PiiDetector(types=["email"])
    assert found("SSN 123-45-6789 bob@example.com", detector) == [("email", "bob@example.com")]
    assert detector.types == ("email",)


def test_unknown_type_is_rejected() -> None:
    with pytest.raises(ValueError, match="passport"):
        PiiDetector(types=["ssn", "passport"])


def test_custom_pattern_is_detected_and_tagged_by_name() -> None:
    detector = PiiDetector(custom={"employee_id": r"EMP-\d{6}"})
    redacted, findings = detector.redact("badge EMP-123456, SSN 123-45-6789")
    assert redacted == "badge [REDACTED-EMPLOYEE_ID], SSN [REDACTED-SSN]"
    assert [f.type for f in findings] == ["employee_id", "ssn"]
    assert detector.types == (*PII_TYPES, "employee_id")


@pytest.mark.parametrize(
    ("name", "pattern", "message"),
    [
        ("employee_id", r"EMP-(\d{6}", r"employee_id.*EMP-\(\\\\d\{6\}.*not a valid regular expression"),
        ("anything", r"x*", "can match empty text"),
        ("maybe", r"(?:EMP)?", "can match empty text"),
        ("bad name", r"X\d+", "must start with a letter"),
        ("email", r"X\d+", "collides with a built-in"),
    ],
)
def test_bad_custom_pattern_raises_value_error_naming_it(name: str, pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PiiDetector(custom={name: pattern})


def test_max_match_len_covers_the_longest_written_forms() -> None:
    longest = {
        "ssn": "123-45-6789",
        "credit_card": "6200 0000 0000 0000 000",
        "phone_us": "+1 (212) 555-0199 extension 12345",
    }
    for kind, value in longest.items():
        assert found(f"{kind}: {value}") == [(kind, value)]
        assert len(value) <= PiiDetector(types=[kind]).max_match_len
    assert PiiDetector(types=["credit_card"]).max_match_len == 23
    assert PiiDetector(types=["credit_card"], custom={"e": r"EMP-\d{6}"}).max_match_len == 23
    # A bare SSN may be held until the words after it had their chance to name it.
    assert PiiDetector(types=["ssn"]).max_match_len == 11 + CONTEXT_WINDOW
    assert PiiDetector(types=[], custom={"e": r"EMP-\d{6}"}).max_match_len == 10
    assert PiiDetector(types=[], custom={"e": r"EMP-\d+"}).max_match_len == CUSTOM_MAX_MATCH_LEN


NO_EMAIL = PiiDetector(types=["ssn", "credit_card", "phone_us"])


@pytest.mark.parametrize(
    ("detector", "text", "held"),
    [
        (DETECTOR, "hello world", len("world")),  # a word could still become an email's local part...
        (DETECTOR, "hello world ", 0),  # ...until a space ends it
        (DETECTOR, "mail bob@exam", len("bob@exam")),
        (NO_EMAIL, "hello world", 0),
        (NO_EMAIL, "price 20 dollars", 0),
        (NO_EMAIL, "card 4111 1111", len("4111 1111")),
        (NO_EMAIL, "call (212", len("(212")),
        (NO_EMAIL, "SSN 123-45-678", len("123-45-678")),
        (NO_EMAIL, "it is 2024. ", len("2024. ")),  # ". " could still be "." + extension, etc.
        (NO_EMAIL, "1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9", 34 - 1),  # longest phone - 1
    ],
)
def test_holdback_keeps_only_what_could_still_become_a_match(detector: PiiDetector, text: str, held: int) -> None:
    assert detector.holdback(text) == held


def test_holdback_waits_for_a_keyword_that_may_follow_a_bare_number() -> None:
    detector = PiiDetector(types=["ssn"])
    assert detector.holdback("I typed 123456789 into the") == len("123456789 into the")
    assert detector.holdback("I typed 123456789 into the form. Then") == 0  # the sentence ended


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")


def test_pattern_shape_reads_width_and_characters() -> None:
    shape = pattern_shape(re.compile(r"EMP-\d{6}"))
    assert (shape.min_len, shape.max_len) == (10, 10)
    assert shape.chars is not None
    assert all(shape.chars.match(char) for char in "EMP-0123456789")
    assert not shape.chars.match("x")
    assert pattern_shape(re.compile(r"(?i:emp)\d+")).max_len is None
    assert pattern_shape(re.compile(r"[^x]{3}")).chars is None  # any character but x
    ignore_case = pattern_shape(re.compile(r"(?i:emp)-\d"))
    assert ignore_case.chars is not None and ignore_case.chars.match("E")


def test_could_match_never_rules_out_a_finding() -> None:
    detector = PiiDetector(custom={"employee_id": r"EMP-\d{6}"})
    for record in generate(lines=300):
        text = str(record["text"])
        if detector.find(text):
            assert detector.could_match(text), text
    assert not DETECTOR.could_match("Plain prose, a price of $20 and a time of 10:30.")
    assert detector.could_match("EMP")  # could be part of a custom match
    assert PiiDetector(types=[], custom={"anything": r"[^x]{3}"}).could_match("abc")


def test_a_custom_pattern_of_any_character_holds_back_its_bound() -> None:
    detector = PiiDetector(types=[], custom={"quoted": r"'[^']{1,300}'"})
    assert detector.max_match_len == CUSTOM_MAX_MATCH_LEN
    assert detector.holdback("x" * 1000) == CUSTOM_MAX_MATCH_LEN - 1
