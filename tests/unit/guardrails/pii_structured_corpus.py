"""Deterministic corpus of PII in structured text, labeled in the shared format
(one JSON object a line, {"text": ..., "spans": [{"type", "start", "end"}]}).

The layouts users paste into prompts: CSV and TSV exports, pipe and Markdown tables,
SQL statements, JSON documents and JSON lines, log lines, key=value and YAML-like
blocks, and terse CRM notes with abbreviated cues ("SS No.", "Soc. Sec. No.", "cb",
cues glued to the value, card numbers grouped with dots). Each document carries as
many look-alikes as values, in the same columns, rows and keys: 9-digit employee and
member ids and routing numbers, ZIP and ZIP+4 codes written without the dash,
10-digit order numbers and epoch times, 15- and 16-digit order, transaction and IMEI
numbers (some pass Luhn), amounts, dates, SSN last-4 columns, Luhn-failing cards.

Regenerate the committed file with: python -m tests.unit.guardrails.pii_structured_corpus
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

from tests.unit.guardrails.pii_corpus import luhn_complete
from tests.unit.guardrails.pii_corpus_data import AREA_CODES, CITIES, FIRST, ISSUERS, LAST, MAIL_HOSTS, ORG_DOMAINS

STRUCTURED_PATH = Path(__file__).with_name("pii_structured.jsonl")
SEED = 20261204
DOCUMENTS = 700

Cell = tuple[str | None, str]  # (label type or None, text)

# Column and key names as exports and schemas spell them, per PII type.
NAMES = {
    "ssn": ["ssn", "SSN", "ssn_number", "social_security_number", "Social Security Number", "SocialSecurityNo",
            "customer_ssn", "emp_ssn", "patientSSN", "SS No", "soc_sec_no", "ss_num", "SSN#"],
    "phone_us": ["phone", "Phone", "phone_number", "phoneNumber", "mobile", "cell", "Cell Phone", "tel",
                 "home_phone", "work_phone", "contact_phone", "Mobile #", "callback", "cb", "fax"],
    "credit_card": ["card_number", "cardNumber", "cc_number", "credit_card", "Card No", "pan", "cc", "Card"],
    "email": ["email", "Email", "email_address", "emailAddress", "contact_email", "E-mail"],
}
# Look-alike columns: name and value maker (set up in Builder.__init__).
TRAP_NAMES = ["employee_id", "member_id", "routing_number", "zip", "zip_code", "order_id", "order_number",
              "invoice_no", "transaction_id", "imei", "created_at", "dob", "amount", "balance", "qty",
              "ssn_last4", "account_number", "npi", "tracking", "created_ts", "postal_code", "ref"]


class Builder:
    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        r = self.rng
        self.traps: dict[str, Callable[[], str]] = {
            "employee_id": lambda: f"{r.randint(100000000, 899999999)}",
            "member_id": lambda: f"{r.randint(100000000, 899999999)}",
            "routing_number": lambda: r.choice(["021000021", "026009593", "121000358", "011000138", "071000013"]),
            "zip": lambda: f"{r.choice(CITIES)[2]}{r.randint(0, 99):02d}",
            "zip_code": lambda: f"{r.choice(CITIES)[2]}{r.randint(0, 99):02d}{r.randint(1, 9999):04d}",
            "postal_code": lambda: f"{r.choice(CITIES)[2]}{r.randint(0, 99):02d}-{r.randint(1, 9999):04d}",
            "order_id": lambda: f"{r.randint(2000000000, 9999999999)}",
            "order_number": lambda: self.digits(16, r.choice("3456")),
            "invoice_no": lambda: f"{r.randint(200000000, 899999999)}",
            "transaction_id": lambda: self.digits(r.choice([15, 16]), r.choice("2456")),
            "imei": lambda: luhn_complete(r.choice(["35", "86", "49", "01"]) + self.digits(6, "0"), 15, r),
            "created_at": lambda: f"2026-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:"
                                  f"{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z",
            "dob": lambda: r.choice([f"{r.randint(1, 12)}/{r.randint(1, 28)}/{r.randint(1940, 2005)}",
                                     f"{r.randint(1940, 2005)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"]),
            "amount": lambda: f"{r.randint(1, 99999)}.{r.randint(0, 99):02d}",
            "balance": lambda: f"${r.randint(1, 99999):,}.{r.randint(0, 99):02d}",
            "qty": lambda: str(r.randint(1, 500)),
            "ssn_last4": lambda: f"{r.randint(1, 9999):04d}",
            "account_number": lambda: f"{r.randint(2000000000, 9999999999)}{r.choice(['', '12', '345'])}",
            "npi": lambda: f"{r.choice('12')}{r.randint(100000000, 999999999)}",
            "tracking": lambda: f"1Z{r.randint(100000, 999999)}{r.randint(10000000, 99999999)}",
            "created_ts": lambda: str(r.randint(1600000000, 1799999999)),
            "ref": lambda: f"{r.randint(200, 999)}{r.randint(200, 999)}{r.randint(1000, 9999)}",
        }

    def digits(self, count: int, first: str) -> str:
        return first + "".join(self.rng.choice("0123456789") for _ in range(count - 1))

    # --- PII values -----------------------------------------------------------------

    def ssn(self, bare: float = 0.6) -> str:
        r = self.rng
        area = r.choice([a for a in range(1, 900) if a != 666])
        parts = (f"{area:03d}", f"{r.randint(1, 99):02d}", f"{r.randint(1, 9999):04d}")
        form = r.random()
        return "".join(parts) if form < bare else ("-" if form < 0.95 else " ").join(parts)

    def phone(self, bare: float = 0.5) -> str:
        r = self.rng
        a, x, line = r.choice(AREA_CODES.split()), str(r.randint(200, 999)), f"{r.randint(0, 9999):04d}"
        if r.random() < bare:
            return r.choice([f"{a}{x}{line}", f"{a}{x}{line}", f"1{a}{x}{line}", f"+1{a}{x}{line}"])
        return r.choice([f"({a}) {x}-{line}", f"{a}-{x}-{line}", f"{a}.{x}.{line}", f"+1 {a} {x} {line}"])

    def card(self, dotted: float = 0.3) -> str:
        r = self.rng
        prefixes, lengths = r.choice(ISSUERS)
        digits = luhn_complete(r.choice(prefixes.split()), r.choice(lengths), r)
        if len(digits) != 16:
            return digits
        groups = [digits[i : i + 4] for i in range(0, 16, 4)]
        form = r.random()
        return ".".join(groups) if form < dotted else " ".join(groups) if form < 0.6 else digits

    def bad_card(self) -> str:
        r = self.rng
        digits = luhn_complete(r.choice("456") + self.digits(5, "1"), 16, r)
        digits = digits[:-1] + str((int(digits[-1]) + r.randint(1, 9)) % 10)
        return r.choice([digits, ".".join(digits[i : i + 4] for i in range(0, 16, 4))])

    def email(self) -> str:
        r = self.rng
        first, last = r.choice(FIRST).lower(), r.choice(LAST).lower().replace("'", "")
        host = r.choice(MAIL_HOSTS) if r.random() < 0.6 else r.choice(ORG_DOMAINS)
        return f"{r.choice([f'{first}.{last}', f'{first[0]}{last}', f'{first}_{last}{r.randint(1, 99)}'])}@{host}"

    def value(self, kind: str) -> str:
        return {"ssn": self.ssn, "phone_us": self.phone, "credit_card": self.card, "email": self.email}[kind]()

    def name(self) -> str:
        return f"{self.rng.choice(FIRST)} {self.rng.choice(LAST).replace(chr(39), '')}"

    # --- layouts --------------------------------------------------------------------

    def columns(self) -> list[tuple[str, str | None]]:
        """(column name, PII type or None for a look-alike column), shuffled."""
        r = self.rng
        kinds = r.sample(["ssn", "phone_us", "credit_card", "email"], r.randint(1, 3))
        if "ssn" not in kinds and r.random() < 0.6:
            kinds.append("ssn")
        pii = [(r.choice(NAMES[kind]), kind) for kind in kinds]
        traps: list[tuple[str, str | None]] = [(name, None) for name in r.sample(TRAP_NAMES, len(pii) + 1)]
        columns = pii + traps
        r.shuffle(columns)
        return [("id", None), ("name", None), *columns] if r.random() < 0.5 else columns

    def cell(self, column: tuple[str, str | None]) -> Cell:
        name, kind = column
        if kind is not None:
            return kind, self.value(kind)
        if name == "name":
            return None, self.name()
        if name == "id":
            return None, str(self.rng.randint(1, 99999))
        return None, self.traps[name]()

    def table(self) -> list[Cell]:
        r = self.rng
        columns = self.columns()
        style = r.choice(["csv", "csv", "tsv", "semicolon", "pipe", "markdown"])
        sep = {"csv": ",", "tsv": "\t", "semicolon": ";", "pipe": "|", "markdown": " | "}[style]
        quote = style in ("csv", "semicolon") and r.random() < 0.3
        lead, trail = ("| ", " |") if style == "markdown" else ("", "")

        def fmt(text: str) -> str:
            return f'"{text}"' if quote else text

        out: list[Cell] = []
        if r.random() < 0.4:
            out.append((None, r.choice(["Here is the export:\n", "Clean up this CSV:\n", "```\n", "Data:\n\n"])))
        out.append((None, lead + sep.join(fmt(name) for name, _ in columns) + trail + "\n"))
        if style == "markdown":
            out.append((None, lead + sep.join("---" for _ in columns) + trail + "\n"))
        for _ in range(r.randint(2, 7)):
            out.append((None, lead))
            for index, column in enumerate(columns):
                kind, text = self.cell(column)
                if index:
                    out.append((None, sep))
                quoted = quote or (sep == "," and "," in text)  # as a CSV writer quotes "$64,082.43"
                out += [(None, '"'), (kind, text), (None, '"')] if quoted else [(kind, text)]
            out.append((None, trail + "\n"))
        return out

    def sql(self) -> list[Cell]:
        r = self.rng
        columns = self.columns()
        table = r.choice(["customers", "employees", "patients", "public.users", "`crm_contacts`"])
        out: list[Cell] = []
        form = r.random()
        if form < 0.6:
            names = ", ".join(name.replace(" ", "_").replace("#", "") for name, _ in columns)
            out.append((None, f"INSERT INTO {table} ({names}) VALUES"))
            rows = r.randint(1, 5)
            for row in range(rows):
                out.append((None, "\n  (" if rows > 1 else " ("))
                for index, column in enumerate(columns):
                    kind, text = self.cell(column)
                    if index:
                        out.append((None, ", "))
                    numeric = text.isdigit() and kind != "phone_us" and r.random() < 0.4
                    out += [(kind, text)] if numeric else [(None, "'"), (kind, text), (None, "'")]
                out.append((None, ")" + ("," if row < rows - 1 else ";\n")))
            return out
        pii = [c for c in columns if c[1] is not None]
        traps = [c for c in columns if c[1] is None and c[0] not in ("name", "id")]
        verb = "UPDATE" if form < 0.8 else "SELECT"
        target = r.choice(pii)
        other = r.choice(traps) if traps else ("employee_id", None)
        key = target[0].replace(" ", "_").replace("#", "")
        if verb == "UPDATE":
            out.append((None, f"UPDATE {table} SET {key} = '"))
            out += [(target[1], self.value(str(target[1]))), (None, f"' WHERE {other[0]} = ")]
            out += [self.cell(other), (None, ";\n")]
        else:
            out.append((None, f"SELECT * FROM {table} WHERE {other[0]} = '"))
            out += [self.cell(other), (None, f"' OR {key} = '"), (target[1], self.value(str(target[1]))), (None, "';\n")]
        return out

    def json_doc(self) -> list[Cell]:
        r = self.rng
        columns = self.columns()
        out: list[Cell] = []
        records = r.randint(1, 3)
        lines = r.random() < 0.5  # JSON lines, else one pretty-printed array
        out.append((None, "" if lines else "[\n"))
        for record in range(records):
            out.append((None, "{" if lines else "  {\n"))
            for index, column in enumerate(columns):
                kind, text = self.cell(column)
                bare_number = text.isdigit() and kind != "phone_us" and r.random() < 0.3
                out.append((None, ("" if lines else "    ") + json.dumps(column[0]) + ": "))
                out += [(kind, text)] if bare_number else [(None, '"'), (kind, text), (None, '"')]
                if index < len(columns) - 1:
                    out.append((None, ", " if lines else ",\n"))
            out.append((None, "}\n" if lines else "\n  }" + (",\n" if record < records - 1 else "\n")))
        out.append((None, "" if lines else "]\n"))
        return out

    def log(self) -> list[Cell]:
        r = self.rng
        out: list[Cell] = []
        for _ in range(r.randint(2, 5)):
            columns = self.columns()
            level = r.choice(["INFO", "WARN", "DEBUG", "ERROR"])
            out.append((None, f"2026-03-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:{r.randint(10, 59)}:{r.randint(10, 59)}Z "
                              f"{level} svc={r.choice(['billing', 'kyc', 'crm'])} pid={r.randint(100, 99999)}"))
            for name, kind in columns:
                value = self.cell((name, kind))
                key = name.replace(" ", "_").replace("#", "")
                out.append((None, f" {key}="))
                out += [value] if " " not in value[1] else [(None, '"'), value, (None, '"')]
            out.append((None, "\n"))
        return out

    def keyed_block(self) -> list[Cell]:
        r = self.rng
        out: list[Cell] = []
        columns = self.columns()
        style = r.choice(["yaml", "query", "ini"])
        if style == "query":
            out.append((None, "GET /api/verify?"))
            for index, column in enumerate(columns):
                value = self.cell(column)
                key = column[0].replace(" ", "_").replace("#", "")
                out += [(None, ("&" if index else "") + key + "="), (value[0], value[1].replace(" ", ""))]
            return [*out, (None, " HTTP/1.1\n")]
        for column in columns:
            out += [(None, f"{column[0]}{': ' if style == 'yaml' else ' = '}"), self.cell(column), (None, "\n")]
        return out

    def note(self) -> list[Cell]:
        """A CRM note: abbreviated and glued cues, dotted cards, and look-alikes beside them."""
        r = self.rng
        out: list[Cell] = []
        sentences = r.sample(NOTE_SENTENCES, r.randint(2, 4))
        for sentence in sentences:
            rest = sentence
            while "{" in rest:
                head, _, tail = rest.partition("{")
                slot, _, rest = tail.partition("}")
                out.append((None, head))
                out.append(self.slot(slot))
            out.append((None, rest + r.choice([" ", " ", "\n"])))
        return out

    def slot(self, slot: str) -> Cell:
        r = self.rng
        if slot in ("ssn", "ssn_bare", "ssn_dashed"):
            return "ssn", self.ssn(bare={"ssn": 0.5, "ssn_bare": 1.0, "ssn_dashed": 0.0}[slot])
        if slot in ("phone", "phone_bare"):
            return "phone_us", self.phone(bare=1.0 if slot == "phone_bare" else 0.3)
        if slot == "card_dotted":
            return "credit_card", self.card(dotted=1.0)
        if slot == "bad_card":
            return None, self.bad_card()
        if slot == "id9":
            return None, self.traps["employee_id"]()
        if slot == "id10":
            return None, self.traps["order_id"]()
        if slot == "date":
            return None, self.traps["dob"]()
        if slot == "ip":
            return None, f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
        if slot == "version":
            return None, f"{r.randint(2020, 2026)}.{r.randint(1, 12):02d}.{r.randint(1, 28):02d}.{r.randint(1000, 9999)}"
        return None, self.traps[slot]()

    def document(self) -> dict[str, object]:
        layout = self.rng.choice([self.table, self.table, self.sql, self.json_doc, self.log, self.keyed_block,
                                  self.note, self.note])
        text, spans = "", []
        for kind, value in layout():
            if kind is not None:
                spans.append({"type": kind, "start": len(text), "end": len(text) + len(value)})
            text += value
        return {"text": text, "spans": spans}


NOTE_SENTENCES = [
    "Cust. verified SS No. {ssn_bare} on file.",
    "Soc. Sec. No. {ssn} confirmed by phone.",
    "Soc Sec #{ssn_bare}, DOB {date}.",
    "SSN no.{ssn_dashed} (verified).",
    "S.S.N. {ssn} matches the W-2.",
    "SS num: {ssn_bare}",
    "cb {phone_bare} after 3pm re: claim {id9}.",
    "Pls cb at {phone} tmrw.",
    "cb# {phone_bare}",
    "Left vm, callback {phone_bare}.",
    "Ph. {phone_bare} (mobile).",
    "Tel.{phone}",
    "Card on file {card_dotted} exp 11/28.",
    "Pay with card no.{card_dotted}",
    "Ref no.{id9} closed, see order no.{id10}.",
    "Ticket no.{id10} re-opened {date}.",
    "PO {bad_card} rejected (bad check digit).",
    "Claim {id9} paid {amount}, member {member_id}.",
    "Build {version} deployed to {ip}.",
    "Employee #{id9} moved to zip {zip_code}.",
    "Routing no. {routing_number}, acct no.{account_number}.",
    "Order no. {id10} shipped {date}, tracking {tracking}.",
    "IMEI {imei} reported stolen.",
    "Txn {transaction_id} settled at {created_at}.",
]


def generate(documents: int = DOCUMENTS, seed: int = SEED) -> list[dict[str, object]]:
    builder = Builder(seed)
    return [builder.document() for _ in range(documents)]


if __name__ == "__main__":
    records = generate()
    STRUCTURED_PATH.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    sys.stdout.write(f"wrote {STRUCTURED_PATH}\n")
