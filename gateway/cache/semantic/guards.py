"""Do two prompts ask the same thing? The checks a semantic hit must also pass.

Embedding similarity finds the candidate; it cannot tell "capital of France?" from
"capital of Germany?" (measured in DESIGN.md: paraphrases and one-word-change negatives have
the same cosine median). So a candidate is accepted only if the two key texts also agree on
everything a one-word change can flip. Each guard is named, so the benchmark can report
what each one catches (bench/semantic_cache.py):

- numbers   the numbers in each (digits or number words) are the same multiset
- units     the same units of measure and currencies
- negation  as many negations (not, no, never, n't, without, ...)
- language  the same programming and human languages (Python 3 vs 2, French vs Spanish)
- format    the same requested output format (JSON, YAML, table, bullet points, haiku, ...)
- direction the same word after each of from/to/into/than/vs/before/after, and the same
            comparisons and time relations (than, vs, before, after) in both
- particles the same little words that flip a verb: in/out, on/off, up/down ("log in" vs
            "log out", "turn on" vs "turn off")
- pronouns  the same third persons in the same order ("does he owe her" vs "does she owe him")
- order     the words both share appear in the same order, give or take one moved block
            (catches role swaps: "did Brazil beat Germany" vs "did Germany beat Brazil")
- words     every content word of one is matched in the other (same stem, a listed synonym,
            or a typo of it); unmatched words may only be politeness and filler ("please",
            "quickly", "can you tell me"). This is the second-stage check that catches what
            the named guards do not: other entities, antonyms, comparatives, scope changes.

Everything here is pure and deterministic; the texts are already PII-redacted."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

GUARDS = ("numbers", "units", "negation", "language", "format", "direction", "particles", "pronouns", "order", "words")

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[a-z][a-z0-9]*(?:\+\+|#|'[a-z]+)?")

_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_NUMBER_WORDS.update({"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70",
                      "eighty": "80", "ninety": "90", "hundred": "100", "thousand": "1000", "million": "1000000",
                      "billion": "1000000000", "first": "1", "second": "2", "third": "3", "fourth": "4",
                      "fifth": "5", "tenth": "10", "half": "0.5", "dozen": "12", "twice": "2", "once": "1"})

_NEGATIONS = frozenset({"not", "no", "never", "none", "nothing", "nobody", "neither", "nor", "without", "cannot",
                        "nowhere", "non"})

_UNITS = {u: canon for canon, names in {
    "m": "m meter meters metre metres", "km": "km kilometer kilometers kilometre kilometres",
    "cm": "cm centimeter centimeters", "mm": "mm millimeter millimeters", "mi": "mi mile miles",
    "ft": "ft foot feet", "in": "inch inches", "yd": "yd yard yards", "kg": "kg kilogram kilograms kilo kilos",
    "g": "g gram grams", "lb": "lb lbs pound pounds", "oz": "oz ounce ounces", "l": "l liter liters litre litres",
    "ml": "ml milliliter milliliters", "gal": "gal gallon gallons", "cup": "cup cups",
    "tbsp": "tbsp tablespoon tablespoons",
    "tsp": "tsp teaspoon teaspoons", "c": "celsius centigrade", "f": "fahrenheit", "k": "kelvin",
    "s": "sec secs second seconds", "min": "minute minutes mins", "h": "hour hours hr hrs", "day": "day days",
    "week": "week weeks", "month": "month months", "year": "year years", "mph": "mph", "kph": "kph kmh",
    "usd": "usd dollar dollars", "eur": "eur euro euros", "gbp": "gbp sterling", "jpy": "jpy yen",
    "b": "byte bytes", "kb": "kb kilobyte kilobytes", "mb": "mb megabyte megabytes", "gb": "gb gigabyte gigabytes",
    "tb": "tb terabyte terabytes", "percent": "percent percentage", "w": "watt watts", "kw": "kw kilowatt kilowatts",
    "v": "volt volts", "cal": "calorie calories kcal"}.items() for u in names.split()}

_LANGUAGES = {w: canon for canon, names in {
    "python": "python py python3 python2", "javascript": "javascript js nodejs node",
    "typescript": "typescript ts", "java": "java", "golang": "golang", "rust": "rust", "c": "c",
    "c++": "c++ cpp", "c#": "c# csharp", "ruby": "ruby", "php": "php", "kotlin": "kotlin", "swift": "swift",
    "scala": "scala", "haskell": "haskell", "perl": "perl", "bash": "bash sh zsh shell", "sql": "sql",
    "postgres": "postgres postgresql", "mysql": "mysql", "sqlite": "sqlite", "powershell": "powershell",
    "lua": "lua", "dart": "dart", "elixir": "elixir", "erlang": "erlang", "julia": "julia", "matlab": "matlab",
    "r": "r", "html": "html", "css": "css", "react": "react", "vue": "vue", "angular": "angular",
    "english": "english", "french": "french", "spanish": "spanish", "german": "german", "italian": "italian",
    "portuguese": "portuguese", "dutch": "dutch", "japanese": "japanese", "chinese": "chinese mandarin",
    "korean": "korean", "russian": "russian", "arabic": "arabic", "hindi": "hindi", "polish": "polish",
    "swedish": "swedish", "greek": "greek", "latin": "latin", "turkish": "turkish"}.items() for w in names.split()}

_FORMATS = {w: canon for canon, names in {
    "json": "json", "yaml": "yaml yml", "xml": "xml", "csv": "csv", "table": "table tables tabular",
    "markdown": "markdown md", "bullet": "bullet bullets bulleted", "numbered": "numbered", "haiku": "haiku",
    "poem": "poem poems", "limerick": "limerick", "sonnet": "sonnet", "essay": "essay", "tweet": "tweet",
    "email": "email", "letter": "letter", "summary": "summary summarize summarise tldr", "paragraph": "paragraph",
    "sentence": "sentence sentences", "word": "word words", "code": "code snippet", "diagram": "diagram",
    "chart": "chart", "script": "script", "regex": "regex regexp", "pdf": "pdf", "slide": "slide slides"}.items()
    for w in names.split()}

_PARTICLES = frozenset({"up", "down", "out", "on", "off", "over", "under", "back", "away", "above", "below",
                        "inside", "outside", "less", "more", "most", "least"})
_PRONOUNS = {"he": "m", "him": "m", "his": "m", "himself": "m", "she": "f", "her": "f", "hers": "f", "herself": "f",
             "they": "p", "them": "p", "their": "p", "theirs": "p", "themselves": "p"}
_OPTIONAL_MARKERS = frozenset({"from", "to", "into", "onto", "toward", "towards"})   # "X to Y" may be "Y from X"

_DIRECTION_MARKERS = frozenset({"from", "to", "into", "than", "vs", "versus", "before", "after", "onto", "toward",
                                "towards"})

# Words that carry no part of the question: articles, pronouns, auxiliaries, prepositions
# that do not set a direction, politeness, filler. Matching ignores them.
_STOPWORDS = frozenset("""
a an the this that these those it its it's is are was were be been being am do does did done doing have has had
having of in on at by for with about as and or but if so then there here i me my mine we us our you your yours
he him his she her they them their what's whats which what can could would should will shall may might must
please kindly pls plz thanks thank thx hi hello hey hiya quick quickly briefly simply just really actually
basically exactly tell explain know want wondering wonder curious help question asking ask let i'm i'd i've
you're give show need some any one's like okay ok well also maybe possibly perhaps anyone someone somebody
way ways there's that's wanna gonna get got go very much many
tip tips advice idea ideas suggestion suggestions list calculate compute
""".split()) - _NEGATIONS - _DIRECTION_MARKERS - _PARTICLES

_SYNONYM_GROUPS = (
    ("big", "large", "huge"), ("biggest", "largest"), ("small", "little", "tiny"), ("smallest", "tiniest"),
    ("fast", "quick", "rapid"), ("fastest", "quickest"), ("begin", "start"), ("end", "finish"),
    ("buy", "purchase"), ("car", "automobile"), ("make", "create", "build"), ("display", "print", "output"),
    ("use", "utilize", "utilise"), ("fix", "repair"), ("method", "approach", "technique"),
    ("difference", "different", "differ", "differentiate", "distinguish", "compare", "comparison", "contrast"),
    ("remove", "delete"), ("obtain", "acquire"), ("cost", "price"), ("doctor", "physician"), ("movie", "film"),
    ("picture", "photo", "image"), ("kid", "child"), ("happy", "glad"), ("sick", "ill"), ("reverse", "invert"),
    ("meaning", "mean", "definition", "define"), ("recipe", "cook", "prepare"), ("town", "city"),
    ("count", "number"), ("check", "verify", "test", "determine"), ("write", "compose"), ("good", "decent"),
    ("cause", "reason"), ("capital", "capitol"), ("tall", "high"), ("height", "tall"), ("function", "func"),
    ("list", "array"), ("dictionary", "dict", "map", "hashmap"), ("string", "str", "text"),
    ("convert", "transform", "turn", "change"), ("calculate", "compute", "work"), ("install", "setup"),
    ("explanation", "describe", "description", "overview"), ("weigh", "weight", "heavy"),
    ("far", "distance"), ("long", "length"), ("old", "age"), ("sort", "order"), ("combine", "merge", "join"),
    ("split", "divide"), ("find", "locate", "search", "look"), ("error", "exception"),
)
_SYNONYMS = {w: group[0] for group in _SYNONYM_GROUPS for w in group}

_VOWELS = frozenset("aeiou")


@dataclass(frozen=True, slots=True)
class _Parsed:
    tokens: tuple[str, ...]
    numbers: Counter[str]
    units: frozenset[str]
    negations: int
    languages: frozenset[str]
    formats: frozenset[str]
    directions: dict[str, tuple[str, ...]]
    particles: Counter[str]
    pronouns: tuple[str, ...]
    content: tuple[str, ...]          # normalised content words in order


def disagreements(a: str, b: str, *, skip: Iterable[str] = ()) -> list[str]:
    """The guards the two prompts fail, in GUARDS order ([] when they ask the same thing)."""
    ta, tb = _tokens(a), _tokens(b)
    tb = _corrected(tb, ta)       # one way: a typo in either then reads as the other's spelling
    pa, pb = _parse(ta), _parse(tb)
    skipped = frozenset(skip)
    failed: list[str] = []
    checks = {
        "numbers": lambda: pa.numbers == pb.numbers,
        "units": lambda: pa.units == pb.units,
        "negation": lambda: pa.negations == pb.negations,
        "language": lambda: pa.languages == pb.languages,
        "format": lambda: pa.formats == pb.formats,
        "direction": lambda: _directions_agree(pa.directions, pb.directions),
        "particles": lambda: pa.particles == pb.particles,
        "pronouns": lambda: pa.pronouns == pb.pronouns,
        "order": lambda: _order_agrees(pa.content, pb.content),
        "words": lambda: _words_agree(pa.content, pb.content),
    }
    for name in GUARDS:
        if name not in skipped and not checks[name]():
            failed.append(name)
    return failed


def agree(a: str, b: str) -> bool:
    return not disagreements(a, b)


@lru_cache(maxsize=4096)
def _tokens(text: str) -> tuple[str, ...]:
    return tuple(_TOKEN.findall(text.lower().replace("\u2019", "'")))


def _corrected(tokens: tuple[str, ...], reference: tuple[str, ...]) -> tuple[str, ...]:
    """`tokens` with each word that is a typo of a word of `reference` spelled as there, so
    that every guard reads "pyhton" as "python" and "frist" as "first"."""
    known = set(reference)
    fixed = []
    for token in tokens:
        if token not in known and not token[0].isdigit():
            token = next((r for r in known if _typo_of(token, r)), token)
        fixed.append(token)
    return tuple(fixed)


@lru_cache(maxsize=4096)
def _parse(raw: tuple[str, ...]) -> _Parsed:
    tokens: list[str] = []
    negations = 0
    for token in raw:
        if token.endswith("n't") or token in ("cannot", "can't", "won't"):
            negations += 1
            tokens.append("not")
            continue
        if token in _NEGATIONS:
            negations += 1
        tokens.append(token.removesuffix("'s"))
    numbers = Counter(n for t in tokens if (n := _number(t)) is not None)
    units = frozenset(_UNITS[t] for t in tokens if t in _UNITS and t not in ("in", "c", "s", "g", "m", "b", "k",
                                                                             "l", "w", "v", "f", "h"))
    languages = frozenset(_LANGUAGES[t] for t in tokens if t in _LANGUAGES)
    formats = frozenset(_FORMATS[t] for t in tokens if t in _FORMATS)
    directions: dict[str, list[str]] = {}
    for i, token in enumerate(tokens):
        if token in _DIRECTION_MARKERS:
            following = next((_canonical(t) for t in tokens[i + 1:] if t not in _STOPWORDS), "")
            directions.setdefault(token, []).append(following)
    content = tuple(_canonical(t) for t in tokens
                    if t not in _STOPWORDS and _stem(t) not in _STOPWORDS and t not in _DIRECTION_MARKERS
                    and _number(t) is None and t not in _NEGATIONS)
    particles = Counter(t for t in tokens if t in _PARTICLES)
    pronouns = tuple(_PRONOUNS[t] for t in tokens if t in _PRONOUNS)
    return _Parsed(tuple(tokens), numbers, units, negations, languages, formats,
                   {k: tuple(v) for k, v in directions.items()}, particles, pronouns, content)


def _number(token: str) -> str | None:
    if token[0].isdigit():
        return token.replace(",", "")
    return _NUMBER_WORDS.get(token)


def _stem(word: str) -> str:
    if len(word) <= 3 or word in _LANGUAGES or word in _FORMATS:
        return word
    for suffix, replacement in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            stem = word[: len(word) - len(suffix)] + replacement
            if suffix in ("ing", "ed") and len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in _VOWELS:
                stem = stem[:-1]                          # running -> run, stopped -> stop
            return stem
    return word


def _canonical(word: str) -> str:
    if word in _SYNONYMS:
        return _SYNONYMS[word]
    stem = _stem(word)
    return _SYNONYMS.get(stem, stem)


def _directions_agree(a: dict[str, tuple[str, ...]], b: dict[str, tuple[str, ...]]) -> bool:
    # "from X to Y" may be said "X to Y" too: those markers are compared where both use them;
    # than/vs/before/after must be in both or neither.
    # For those, the last target is compared: "to" is also the infinitive ("how to log in to X").
    if (a.keys() ^ b.keys()) - _OPTIONAL_MARKERS:
        return False
    return all(a[m][-1] == b[m][-1] if m in _OPTIONAL_MARKERS else a[m] == b[m] for m in a.keys() & b.keys())


def _order_agrees(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    shared = set(a) & set(b)
    sa = [w for w in dict.fromkeys(a) if w in shared]
    sb = [w for w in dict.fromkeys(b) if w in shared]
    if sa == sb or (len(sa) <= 2 and len(sa) == len(sb)):
        return True if len(sa) < 2 or sa == sb else _one_block_moved(sa, sb)
    return _one_block_moved(sa, sb)


def _one_block_moved(a: list[str], b: list[str]) -> bool:
    """b is a with one contiguous block moved elsewhere."""
    n = len(a)
    if n != len(b) or n > 40:
        return a == b
    for start in range(n):
        for end in range(start + 1, n + 1):
            block, rest = a[start:end], a[:start] + a[end:]
            for at in range(len(rest) + 1):
                if rest[:at] + block + rest[at:] == b:
                    return True
    return False


def _words_agree(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return not _unmatched(a, b) and not _unmatched(b, a)


def _unmatched(words: tuple[str, ...], others: tuple[str, ...]) -> list[str]:
    pool = set(others)
    return [w for w in words if w not in pool and not any(_typo_of(w, o) for o in pool)]


def _typo_of(a: str, b: str) -> bool:
    """One slip of the keyboard: a swapped pair of neighbours, or (words of 5+ letters that
    start alike) one letter added, dropped or changed; two in words of 9+ letters."""
    if a == b or min(len(a), len(b)) < 4 or a[0] != b[0]:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]:
            return True
    if min(len(a), len(b)) < 5:
        return False
    limit = 2 if min(len(a), len(b)) >= 9 else 1
    return _edit_distance(a, b, limit) <= limit


def _edit_distance(a: str, b: str, limit: int) -> int:
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]
