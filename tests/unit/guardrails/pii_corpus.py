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

CORPUS_PATH = Path(__file__).with_name("pii_corpus.jsonl")
SEED = 20240611
LINES = 2400
LABELS = {"ssn": "ssn", "card": "credit_card", "email": "email", "phone": "phone_us"}

T = TypeVar("T")
Piece = tuple[str | None, str]  # (label type or None, text)

FIRST = """James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara
Richard Susan Joseph Jessica Thomas Sarah Carlos Priya Wei Fatima Olivia Liam Noah Emma Ava Sofia
Mateo Aisha Hiroshi Chloe Dmitri Grace Kwame Lucia Ethan Zoe Arjun Mei""".split()
LAST = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
Gonzalez Wilson Anderson Thomas Taylor Moore Nguyen Patel Kim Chen O'Brien Okafor Kowalski Schmidt
Rossi Singh Tanaka Ivanova Cohen Murphy Lee Walker Hall Young King Wright""".split()
MAIL_HOSTS = """gmail.com yahoo.com outlook.com hotmail.com icloud.com aol.com proton.me comcast.net
verizon.net me.com live.com msn.com""".split()
ORG_DOMAINS = """acme.com globex.io initech.co umbrella-corp.com stark.industries wayne-enterprises.org
cs.stanford.edu mail.harvard.edu nhs.uk bbc.co.uk example.org northwind-traders.com contoso.com
fabrikam.net tailspin.dev health.ny.gov eng.uber.com us.ibm.com research.google city.ac.uk""".split()
# city, state, ZIP prefix
CITIES = [
    tuple(entry.split(","))
    for entry in """Seattle,WA,981 Austin,TX,787 Boston,MA,021 Denver,CO,802 Chicago,IL,606 Miami,FL,331
    Portland,OR,972 Atlanta,GA,303 Phoenix,AZ,850 Columbus,OH,432 Nashville,TN,372""".split()
]
STREETS = "Main St|Oak Avenue|Maple Dr|Cedar Lane|Pine Street|Elm Ct|Lakeview Blvd|Sunset Ave|2nd Ave".split("|")
# Area codes in service, plus 555, which films and documentation use.
AREA_CODES = "212 213 206 301 305 312 303 404 415 469 503 512 602 617 646 702 713 718 773 808 818 917 919 949 972 555"
# Issuer prefixes and lengths: Visa, Mastercard (51-55, 2221-2720), Amex, Discover,
# Diners, JCB, UnionPay.
ISSUERS = [
    ("4", (16, 16, 16, 13, 19)),
    ("51 52 53 54 55 2221 2300 2720", (16,)),
    ("34 37", (15,)),
    ("6011 65 644 649", (16,)),
    ("36 38 300 305", (14,)),
    ("3528 3530 3589", (16,)),
    ("62", (16, 17, 18, 19)),
]
# The issuers' published test numbers, which show up in real support chats.
KNOWN_TEST_CARDS = """4111111111111111 4012888888881881 5555555555554444 5105105105105100 378282246310005
371449635398431 6011111111111117 6011000990139424 3530111333300000 30569309025904 4222222222222
2223003122003222""".split()
ROUTING_NUMBERS = "021000021 026009593 121000358 011000138 071000013".split()

PII_SENTENCES = r"""
My SSN is {ssn}.
SSN: {ssn}
Can you check whether {ssn} is a valid social security number?
Applicant {name}, Social Security No. {ssn}, DOB {date}.
{name}'s social security number is {ssn} and she lives at {address}.
Please update the W-2 for {name} (SSN {ssn}) before {date}.
The form says SS# {ssn} but payroll shows something else.
I typed {ssn} into the SSN field and it was rejected, why?
ssn={ssn}&dob={date}
{{"name": "{name}", "ssn": "{ssn}"}}
Tax ID {ssn} belongs to the sole proprietor.
Employee: {name} | SSN {ssn} | Start date {date}
my social is {ssn} dont share it pls
Write a letter to the IRS about the duplicate return filed under {ssn}.
Social security: {ssn}. Mother's maiden name: {last}.
My card number is {card}, expiring {exp}.
Charge {card} for the remaining balance of {money}.
Visa {card} exp {exp} cvv {cvv}
The payment failed for card {card}; can you retry?
I was double charged on {card}, please refund {money}.
card_number: {card}
Use {card} as the test card in the checkout demo.
Card: {card} {exp}
Customer {name} paid with {card} on {date}.
Why does Stripe reject {card}?
Update billing to {card}, billing zip {zip}.
{{"pan": "{card}", "exp": "{exp}"}}
Send the invoice to {email}.
You can reach me at {email} or {phone}.
Contact: {name} <{email}>
Please CC {email} and {email} on the thread.
mailto:{email}
From: {name} <{email}>\nTo: {email}\nSubject: Re: order {order}
My email ({email}) was changed without my consent.
Is '{email}' a valid address?
{email}: please review the pull request.
{{"email": "{email}", "phone": "{phone}"}}
{name},{email},{phone},{city}
Reply-To: {email}
Forwarding rule: *@{domain} -> {email}
Log in as {email} with the temporary password.
Ask {name} ({email}) for the slides.
Call me at {phone} after 5pm.
My cell is {phone}.
You can text {phone} for updates.
Office: {phone} | Fax: {phone}
The customer left a voicemail from {phone} about order {order}.
Reach the front desk at {phone}.
my number is {phone}
Emergency contact: {name}, {phone}
{name} ({phone}) asked about the refund.
Dial {phone} and press 2 for billing.
Tel: {phone}
Phone {phone}, email {email}.
Please have {name} call back on {phone} today.
Our support line {phone} is open 9-5 EST.
Whatsapp me on {phone}!
"""

NEGATIVE_SENTENCES = r"""
The shipment to {city}, {state} {zip4} was delayed.
Mail it to {address}.
ISBN {isbn} is out of print; try {isbn} instead.
Replace part {part} with {part}.
Your order {order} has shipped; tracking {order}.
Deployed {version} at {ts} to {ip}.
Ping {handle} about the flaky test in {version}.
Card {bad_card} was declined: invalid number.
The SSN {bad_ssn} is invalid, so the application bounced.
Request {uuid} took {small} ms.
Total: {money}, {money} after tax.
Case number {bad_phone} is assigned to the billing team.
Account {account} has a balance of {money}.
Email-ish strings like {not_email} are not addresses.
GET /api/v2/users/{account}/orders returned 404 at {ts}.
Batch {order} processed {small} rows.
{ts} INFO worker-{small} pid={small} latency_ms={small} ip={ip}
The meeting moved to {date} at {small}.
Routing number {routing} is for the Chicago branch.
See chapter {small}, page {small}, ISBN {isbn}.
Invoice {order} for {money} is due {date}.
Upgrade {version} to fix CVE-{year}-{small}.
The warehouse shipped {small} units of {part} to {zip4}.
Follow {handle} and {handle} for updates.
Error code 0x{hex} at address 0x{hex}.
Temperature was {small} degrees on {date}.
Commit {sha} broke the build at {ts}.
Seats {small}-{small}, gate B{small}, flight UA{small}.
{bad_card} failed the Luhn check.
Ticket {order} was escalated by {handle}.
Order {id10} shipped today; call us if it has not arrived by {date}.
Claim {id9} was approved, text STOP to opt out of SMS updates.
Confirmation {id10}: reach out to the front desk with questions.
Member ID {id9} (see your social services letter).
"""

FILLER = """Thanks for your help!|Let me know if you need anything else.|Could you summarize this for me?
|Please draft a polite reply.|Translate the following into Spanish.|Is this correct?
|I've been waiting for two weeks.|The app keeps crashing on login.|Here is the data:
|Can you format this as a table?|Ignore the previous message.|Best regards,|Hi team,
|Quick question about my account.|This is urgent.|See below.|What should I do next?"""


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
