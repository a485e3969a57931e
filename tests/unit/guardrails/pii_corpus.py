"""Deterministic synthetic PII corpus, labeled in the shared format:
one JSON object a line, {"text": ..., "spans": [{"type", "start", "end"}]}.

Positive values are written the way people and systems write them (card numbers
from real issuer ranges and print layouts, phones in the forms US text uses,
addresses at common mail providers and company domains), independent of the
detector's patterns. Hard negatives are the look-alikes chat text is full of:
Luhn-failing card-length numbers, SSNs with invalid area/group/serial, NANP-invalid
phone-shaped numbers, ZIP+4 codes, ISBNs, part numbers, order and tracking ids,
bare ids followed by words like "call", handles, versions, timestamps, IPs, UUIDs.

Regenerate the committed file with: python -m tests.unit.guardrails.pii_corpus
"""

from __future__ import annotations

import json
import random
import string
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from tests.unit.guardrails.pii_corpus_data import (
    AREA_CODES,
    CITIES,
    FILLER,
    FIRST,
    ISSUERS,
    KNOWN_TEST_CARDS,
    LAST,
    MAIL_HOSTS,
    NEGATIVE_SENTENCES,
    ORG_DOMAINS,
    PII_SENTENCES,
    ROUTING_NUMBERS,
    STREETS,
)

CORPUS_PATH = Path(__file__).with_name("pii_corpus.jsonl")
SEED = 20240611
LINES = 2400
LABELS = {"ssn": "ssn", "card": "credit_card", "email": "email", "phone": "phone_us"}

T = TypeVar("T")
Piece = tuple[str | None, str]  # (label type or None, text)


def _templates(block: str) -> list[str]:
    return [line.replace(r"\n", "\n") for line in block.strip().splitlines()]


def luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    """`prefix` padded with random digits to `length`, the last one a Luhn check digit."""
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for index, char in enumerate(reversed(body)):
        value = int(char) * (2 if index % 2 == 0 else 1)  # doubled once the check digit follows
        total += value - 9 if value > 9 else value
    return body + str((10 - total % 10) % 10)


def card_layout(digits: str, sep: str) -> str:
    """Groups as printed on cards: 4-6-5 (15 digits), 4-6-4 (14), else fours."""
    sizes = {15: [4, 6, 5], 14: [4, 6, 4]}.get(len(digits), [4] * (len(digits) // 4 + 1))
    groups, position = [], 0
    for size in sizes:
        groups.append(digits[position : position + size])
        position += size
    return sep.join(group for group in groups if group)


class Values:
    """Real-world-shaped values, positive and negative."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pick(self, options: Sequence[T]) -> T:
        return self.rng.choice(options)

    def n(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def d(self, count: int) -> str:
        """`count` random digits."""
        return "".join(self.rng.choice(string.digits) for _ in range(count))

    def ssn(self) -> str:
        area = self.pick([number for number in range(1, 900) if number != 666])
        group, serial = self.n(1, 99), self.n(1, 9999)
        form = self.rng.random()
        separator = "-" if form < 0.72 else " " if form < 0.87 else ""
        return f"{area:03d}{separator}{group:02d}{separator}{serial:04d}"

    def card(self) -> str:
        if self.rng.random() < 0.15:
            digits = self.pick(KNOWN_TEST_CARDS)
        else:
            prefixes, lengths = self.pick(ISSUERS)
            digits = luhn_complete(self.pick(prefixes.split()), self.pick(lengths), self.rng)
        form = self.rng.random()
        return digits if form < 0.4 else card_layout(digits, " " if form < 0.82 else "-")

    def email(self) -> str:
        first, last = self.pick(FIRST).lower(), self.pick(LAST).lower().replace("'", "")
        local = self.pick(
            [
                f"{first}.{last}",
                f"{first[0]}{last}",
                f"{first}_{last}",
                f"{first}{last[0]}",
                f"{first}.{last}{self.n(1, 99)}",
                f"{first}+{self.pick(['news', 'shop', 'work'])}",
                f"{last}.{first}",
                f"{first}{self.n(1970, 2005)}",
                f"{first}-{last}",
            ]
        )
        if self.rng.random() < 0.08:
            local = local.capitalize()
        domain = self.pick(MAIL_HOSTS) if self.rng.random() < 0.55 else self.pick(ORG_DOMAINS)
        return f"{local}@{domain.upper() if self.rng.random() < 0.05 else domain}"

    def phone(self) -> str:
        area = self.pick(AREA_CODES.split())
        exchange = "555" if area != "555" and self.rng.random() < 0.2 else str(self.n(200, 999))
        line = f"01{self.n(0, 99):02d}" if exchange == "555" else self.d(4)
        a, x = area, exchange
        forms = {  # form: weight
            f"({a}) {x}-{line}": 22,
            f"{a}-{x}-{line}": 30,
            f"{a}.{x}.{line}": 8,
            f"{a} {x} {line}": 5,
            f"+1 {a} {x} {line}": 6,
            f"+1-{a}-{x}-{line}": 4,
            f"1-{a}-{x}-{line}": 5,
            f"+1 ({a}) {x}-{line}": 5,
            f"+1{a}{x}{line}": 4,
            f"({a}){x}-{line}": 3,
            f"1 ({a}) {x}-{line}": 2,
            f"+1 {a}-{x}-{line}": 4,
            f"{a}{x}{line}": 6,
        }
        number = self.rng.choices(list(forms), list(forms.values()))[0]
        if self.rng.random() < 0.06:
            number += self.pick([f" x{self.n(10, 999)}", f" ext. {self.n(10, 9999)}", f" ext {self.n(1, 99)}"])
        return number

    def luhn_failing_card(self) -> str:
        prefixes, lengths = self.pick(ISSUERS)
        digits = luhn_complete(self.pick(prefixes.split()), self.pick(lengths), self.rng)
        bad = digits[:-1] + str((int(digits[-1]) + self.n(1, 9)) % 10)
        return self.pick([bad, card_layout(bad, " "), card_layout(bad, "-")])

    def invalid_ssn(self) -> str:
        area, group, serial = f"{self.n(1, 899):03d}", f"{self.n(1, 99):02d}", f"{self.n(1, 9999):04d}"
        broken = self.pick(["000", "666", "9xx", "group", "serial"])
        if broken in ("000", "666"):
            area = broken
        elif broken == "9xx":
            area = str(self.n(900, 999))
        elif broken == "group":
            group = "00"
        else:
            serial = "0000"
        return f"{area}-{group}-{serial}"

    def invalid_phone(self) -> str:
        """Phone-shaped, but the area code or exchange starts with 0 or 1."""
        area, low, exchange, line = self.pick(AREA_CODES.split()), self.pick("01"), self.n(200, 999), self.d(4)
        return self.pick([f"({low}{self.d(2)}) {exchange}-{line}", f"{area}-{low}{self.d(2)}-{line}"])

    def zip4(self) -> str:
        return f"{self.n(10000, 99999)}-{self.n(1, 9999):04d}"

    def isbn(self) -> str:
        core = self.d(9)
        if self.rng.random() < 0.5:
            check = (11 - sum((10 - i) * int(digit) for i, digit in enumerate(core)) % 11) % 11
            isbn10 = core + ("X" if check == 10 else str(check))
            return self.pick([isbn10, f"{isbn10[0]}-{isbn10[1:4]}-{isbn10[4:9]}-{isbn10[9]}"])
        body = self.pick(["978", "979"]) + core
        check = (10 - sum(int(digit) * (1 + 2 * (i % 2)) for i, digit in enumerate(body)) % 10) % 10
        isbn13 = body + str(check)
        return self.pick([isbn13, f"{isbn13[:3]}-{isbn13[3]}-{isbn13[4:7]}-{isbn13[7:12]}-{isbn13[12]}"])

    def part_number(self) -> str:
        letters = "".join(self.rng.choices(string.ascii_uppercase, k=3))
        return self.pick(
            [
                f"{letters}-{self.d(3)}-{self.d(4)}-{self.pick(string.ascii_uppercase)}",
                f"PN {self.d(4)}-{self.d(3)}-{self.d(2)}",
                f"SKU-{self.d(2)}-{self.d(4)}-{self.d(4)}",
                f"{letters}{self.d(7)}",
                f"{self.d(3)}-{self.d(5)}-{self.d(3)}",
            ]
        )

    def order_id(self) -> str:
        return self.pick(
            [
                f"#{self.d(8)}",
                f"ORD-{self.n(2019, 2025)}-{self.d(6)}",
                f"{self.d(3)}-{self.d(7)}-{self.d(7)}",
                f"INV-{self.d(10)}",
                f"{self.n(1, 9)}{self.d(9)}",
                f"{self.n(1, 9)}{self.d(8)}",
                f"1Z{self.d(3)}{''.join(self.rng.choices(string.ascii_uppercase, k=2))}{self.d(10)}",
                f"9400 {self.d(4)} {self.d(4)} {self.d(4)} {self.d(4)} {self.d(2)}",
                f"{self.d(3)}-{self.d(3)}-{self.d(4)}-{self.d(2)}",
            ]
        )

    def handle(self) -> str:
        first, last = self.pick(FIRST).lower(), self.pick(LAST).lower()
        return "@" + self.pick([f"{first}_{self.d(2)}", last, f"{first}{last}", "dev_ops", "acme-support"])

    def version(self) -> str:
        major, minor, patch = self.n(0, 9), self.n(0, 30), self.n(0, 99)
        return self.pick(
            [
                f"v{major}.{minor}.{patch}",
                f"{major}.{minor}.{patch}-rc.{self.n(1, 5)}",
                f"lodash@{major}.{minor}.{patch}",
                f"Python {self.pick(['3.11.7', '3.12.2', '3.10.14'])}",
                f"build {self.n(2020, 2025)}.{self.n(1, 12):02d}.{self.n(1, 28):02d}.{self.d(4)}",
            ]
        )

    def timestamp(self) -> str:
        year, month, day = self.n(2019, 2025), self.n(1, 12), self.n(1, 28)
        clock = f"{self.n(0, 23):02d}:{self.n(0, 59):02d}:{self.n(0, 59):02d}"
        return self.pick(
            [
                f"{year}-{month:02d}-{day:02d}T{clock}Z",
                f"{year}-{month:02d}-{day:02d} {clock}.{self.d(3)}",
                f"{month:02d}/{day:02d}/{year}",
                str(self.n(1600000000, 1760000000)),  # Unix seconds
                str(self.n(1600000000000, 1760000000000)),  # Unix milliseconds
                f"{year}{month:02d}{day:02d}{clock[:2]}{clock[3:5]}",
            ]
        )

    def ip(self) -> str:
        return self.pick(
            [
                ".".join(str(self.n(1, 254)) for _ in range(4)),
                f"10.{self.n(0, 255)}.{self.n(0, 255)}.{self.n(1, 254)}",
                f"2001:db8:{self.n(0, 65535):x}::{self.n(1, 65535):x}",
            ]
        )

    def not_an_email(self) -> str:
        first = self.pick(FIRST).lower()
        return self.pick(
            [
                f"{first}@localhost",
                f"admin@{self.n(10, 192)}.168.0.1",
                f"{first}@",
                "git@github.com:acme/widgets.git",
                f"{first} at {self.pick(MAIL_HOSTS).split('.')[0]}",
                "@everyone",
            ]
        )

    def money(self) -> str:
        return self.pick([f"${self.n(1, 99999):,}.{self.d(2)}", f"{self.n(2, 99)}%", f"EUR {self.n(100, 9999999):,}"])

    def small(self) -> str:
        return self.pick([str(self.n(2, 60)), str(self.n(100, 9999)), f"{self.n(1, 12)}:{self.n(0, 59):02d}"])

    def account(self) -> str:
        return self.pick(
            [self.d(12), f"{self.n(1, 9)}{self.d(9)}", f"0{self.d(8)}", f"****{self.d(4)}", f"XXX-XX-{self.d(4)}"]
        )

    def uuid(self) -> str:
        hexes = f"{self.rng.getrandbits(128):032x}"
        return f"{hexes[:8]}-{hexes[8:12]}-{hexes[12:16]}-{hexes[16:20]}-{hexes[20:]}"

    def date(self) -> str:
        year, month, day = self.n(1950, 2025), self.n(1, 12), self.n(1, 28)
        return self.pick([f"{month}/{day}/{year}", f"{year}-{month:02d}-{day:02d}", f"March {day}, {year}"])

    def address(self) -> str:
        city, state, zip3 = self.pick(CITIES)
        zip_code = zip3 + self.d(2) + (f"-{self.d(4)}" if self.rng.random() < 0.5 else "")
        return f"{self.n(1, 9999)} {self.pick(STREETS)}, {city}, {state} {zip_code}"


class Generator:
    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        v = self.values = Values(self.rng)
        self.slots: dict[str, Callable[[], str]] = {
            "ssn": v.ssn,
            "card": v.card,
            "email": v.email,
            "phone": v.phone,
            "name": lambda: f"{v.pick(FIRST)} {v.pick(LAST)}",
            "last": lambda: v.pick(LAST),
            "city": lambda: v.pick(CITIES)[0],
            "state": lambda: v.pick(CITIES)[1],
            "zip": lambda: v.pick(CITIES)[2] + v.d(2),
            "address": v.address,
            "domain": lambda: v.pick(ORG_DOMAINS),
            "date": v.date,
            "exp": lambda: f"{v.n(1, 12):02d}/{v.n(25, 31)}",
            "cvv": lambda: v.d(v.pick([3, 3, 4])),
            "bad_card": v.luhn_failing_card,
            "bad_ssn": v.invalid_ssn,
            "bad_phone": v.invalid_phone,
            "zip4": v.zip4,
            "isbn": v.isbn,
            "part": v.part_number,
            "order": v.order_id,
            "version": v.version,
            "ts": v.timestamp,
            "ip": v.ip,
            "handle": v.handle,
            "uuid": v.uuid,
            "money": v.money,
            "not_email": v.not_an_email,
            "small": v.small,
            "account": v.account,
            "routing": lambda: v.pick(ROUTING_NUMBERS),
            "id9": lambda: f"{v.n(1, 8)}{v.d(8)}",
            "id10": lambda: f"{v.n(2, 9)}{v.d(9)}",
            "year": lambda: str(v.n(2015, 2025)),
            "hex": lambda: f"{self.rng.getrandbits(32):08x}",
            "sha": lambda: f"{self.rng.getrandbits(160):040x}"[: v.pick([7, 12, 40])],
        }
        self.pii_sentences = _templates(PII_SENTENCES)
        self.negative_sentences = _templates(NEGATIVE_SENTENCES)
        self.filler = [part.strip() for part in FILLER.split("|")]

    def fill(self, template: str) -> list[Piece]:
        pieces: list[Piece] = []
        rest = template.replace("{{", "\x00").replace("}}", "\x01")
        while "{" in rest:
            opening = rest.index("{")
            closing = rest.index("}", opening)
            slot = rest[opening + 1 : closing]
            pieces += [(None, rest[:opening]), (LABELS.get(slot), self.slots[slot]())]
            rest = rest[closing + 1 :]
        pieces.append((None, rest))
        return [(label, text.replace("\x00", "{").replace("\x01", "}")) for label, text in pieces]

    def line(self) -> dict[str, object]:
        """1-3 sentences with PII and 0-2 look-alikes, or (30%) 1-4 look-alikes only."""
        v = self.values
        if self.rng.random() < 0.3:
            sentences = [self.fill(v.pick(self.negative_sentences)) for _ in range(v.n(1, 4))]
        else:
            sentences = [self.fill(v.pick(self.pii_sentences)) for _ in range(v.n(1, 3))]
            sentences += [self.fill(v.pick(self.negative_sentences)) for _ in range(v.n(0, 2))]
        sentences += [[(None, v.pick(self.filler))] for _ in range(v.n(0, 2))]
        self.rng.shuffle(sentences)
        text, spans = "", []
        for index, sentence in enumerate(sentences):
            if index:
                text += v.pick([" ", " ", " ", "\n", "\n\n"])
            for label, value in sentence:
                if label is not None:
                    spans.append({"type": label, "start": len(text), "end": len(text) + len(value)})
                text += value
        return {"text": text, "spans": spans}


def generate(lines: int = LINES, seed: int = SEED) -> list[dict[str, object]]:
    generator = Generator(seed)
    return [generator.line() for _ in range(lines)]


def dumps(records: list[dict[str, object]]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


if __name__ == "__main__":
    CORPUS_PATH.write_text(dumps(generate()), encoding="utf-8")
    sys.stdout.write(f"wrote {CORPUS_PATH}\n")
