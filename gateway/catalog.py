"""gateway.yaml: providers, models, prices, aliases, tiers, guardrails, cache, validation.

Loaded once at start. `${VAR}` is expanded from the environment; an unknown key or a bad
value is an error that names the file, the line and the key.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gateway.routing.policy import RoutingPolicy
from providers import PROVIDER_TYPES, provider_class

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
ALIAS_NAMES = ("auto", "cheapest", "fastest")


class CatalogError(ValueError):
    """gateway.yaml is invalid; the message names file, line and key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Strict):
    """USD per 1M tokens."""

    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> Decimal:
        cached = min(cached_tokens, prompt_tokens)
        cached_rate = self.cached_input if self.cached_input is not None else self.input
        total = ((prompt_tokens - cached) * self.input + cached * cached_rate
                 + completion_tokens * self.output)
        return total / 1_000_000


class Deployment(_Strict):
    provider: str
    upstream: str


class ModelEntry(_Strict):
    price: Price
    deployments: list[Deployment] = Field(min_length=1)
    kind: Literal["chat", "embeddings"] = "chat"


class Alias(_Strict):
    models: list[str] | None = None
    rank: Literal["price", "latency"] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Alias:
        if (self.models is None) == (self.rank is None):
            raise ValueError("an alias has either `models` (an explicit chain) or `rank`")
        return self


class Tier(_Strict):
    rpm: int | None = None
    rpd: int | None = None
    tpm: int | None = None
    daily_tokens: int | None = None
    monthly_usd: Decimal | None = None


class CustomPattern(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    pattern: str

    @model_validator(mode="after")
    def _usable(self) -> CustomPattern:
        # The detector's own checks: compiles, cannot match empty text, no clash with a built-in.
        from gateway.guardrails.pii import PiiDetector

        PiiDetector(types=[], custom={self.name: self.pattern})
        return self


class PiiPolicy(_Strict):
    mode: Literal["redact", "block", "monitor", "off"] = "redact"
    types: list[Literal["ssn", "credit_card", "email", "phone_us"]] = ["ssn", "credit_card", "email", "phone_us"]
    custom: list[CustomPattern] = []
    responses: Literal["redact", "off"] = "off"


class GuardrailWebhook(_Strict):
    """One `guardrails.webhooks` entry: a security team's endpoint the gateway POSTs the
    (PII-redacted) messages or answer to, and whose `allow | block | modify` it follows
    (gateway/guardrails/webhook.py has the contract)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")   # a metric label: bounded, never user text
    url: str
    phase: Literal["request", "response"]
    timeout_ms: int = Field(default=1000, gt=0, le=60_000)
    on_error: Literal["allow", "block"] = "block"          # a hook that fails: fail open or closed

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http:// or https:// URL with a host, not {url!r}")
        return url


class Guardrails(_Strict):
    pii: PiiPolicy = PiiPolicy()
    webhooks: list[GuardrailWebhook] = []

    @model_validator(mode="after")
    def _unique_names(self) -> Guardrails:
        names = [hook.name for hook in self.webhooks]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"webhooks: the name {name!r} is used twice (it labels the metrics)")
        return self


VALIDATION_MODES = ("pass", "retry", "reject")


class ValidationPolicy(_Strict):
    """`validation`: what happens to an answer that fails the JSON Schema its request gave
    (`response_format` / `text.format`), unless the tenant or the rendered prompt says."""

    default: Literal["pass", "retry", "reject"] = "pass"


class SemanticPolicy(_Strict):
    """`cache.semantic`: how a paraphrase of an earlier request may be answered from the cache
    (gateway/cache/semantic/__init__.py explains each knob and its measured default)."""

    embedding_model: str                                  # a catalog model of kind embeddings
    threshold: float = Field(default=0.75, ge=0, le=1)    # cosine similarity of the key texts
    guards: bool = True                                   # the prompts must also agree word for word
    max_messages: int = Field(default=6, ge=1)            # longer conversations: exact cache only
    max_chars: int = Field(default=2000, gt=0)            # a longer last user turn: exact cache only
    timeout_ms: int = Field(default=100, gt=0)            # the embedding's budget; over it: a miss
    max_entries: int = Field(default=10_000, gt=0)        # per tenant scope, least recently used dropped


class CachePolicy(_Strict):
    mode: Literal["exact", "off", "semantic"] = "exact"
    ttl_seconds: int = Field(default=3600, gt=0)
    scope: Literal["tenant", "shared"] = "tenant"
    max_entry_bytes: int = Field(default=1024 * 1024, gt=0)
    max_entries: int = Field(default=10_000, gt=0)     # in-process store only
    semantic: SemanticPolicy | None = None


class ProviderEntry(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    type: str

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Catalog(_Strict):
    providers: dict[str, ProviderEntry]
    models: dict[str, ModelEntry]
    aliases: dict[str, Alias] = {}
    tiers: dict[str, Tier] = {"free": Tier(rpm=10, rpd=100, tpm=10_000, daily_tokens=50_000)}
    guardrails: Guardrails = Guardrails()
    cache: CachePolicy = CachePolicy()
    routing: RoutingPolicy = RoutingPolicy()     # breakers and retries (gateway/routing/policy.py)
    validation: ValidationPolicy = ValidationPolicy()   # answers that fail their JSON Schema

    @model_validator(mode="after")
    def _references_resolve(self) -> Catalog:
        for name, entry in self.providers.items():
            if entry.type not in PROVIDER_TYPES:
                raise ValueError(f"providers.{name}.type: unknown provider type {entry.type!r} "
                                 f"(known: {', '.join(sorted(PROVIDER_TYPES))})")
            cls = provider_class(entry.type)
            unknown = set(entry.options) - cls.options
            if unknown:
                raise ValueError(f"providers.{name}: unknown key {sorted(unknown)[0]!r} for type {entry.type}")
            cls.check_options(name, entry.options)    # the values too (a vLLM pool's picker, weights, ...)
        for model, model_entry in self.models.items():
            for d in model_entry.deployments:
                if d.provider not in self.providers:
                    raise ValueError(f"models.{model}.deployments: unknown provider {d.provider!r}")
        self._semantic_model_resolves()
        for alias, spec in self.aliases.items():
            if alias in self.models:
                raise ValueError(f"aliases.{alias}: the name is also a model")
            for model in spec.models or []:
                if model not in self.models:
                    raise ValueError(f"aliases.{alias}.models: unknown model {model!r}")
        return self

    def _semantic_model_resolves(self) -> None:
        semantic = self.cache.semantic
        if semantic is None:
            if self.cache.mode == "semantic":
                raise ValueError("cache.mode: `semantic` needs `cache.semantic: {embedding_model: ...}`")
            return
        model = self.models.get(semantic.embedding_model)
        if model is None:
            raise ValueError(f"cache.semantic.embedding_model: unknown model {semantic.embedding_model!r}")
        if model.kind != "embeddings":
            raise ValueError(f"cache.semantic.embedding_model: {semantic.embedding_model!r} is a {model.kind} "
                             "model; the semantic cache needs a model of kind embeddings")

    def is_alias(self, name: str) -> bool:
        return name in self.aliases


# Resolves a scalar's implicit type (int, float, bool, null) as safe_load would.
_SCALARS = yaml.SafeLoader("")


def _hide_env_refs(text: str) -> tuple[str, dict[str, str]]:
    """Swaps each `${VAR}` for a plain token before YAML parsing: `{` and `}` would otherwise
    break flow mappings such as `{api_key: ${OPENAI_API_KEY}}`. Values are put back per
    scalar, so a value holding `#` or `: ` cannot change the document's structure."""
    values: dict[str, str] = {}

    def hide(match: re.Match[str]) -> str:
        token = f"__gateway_env_{len(values)}__"
        name, default = match.group(1), match.group(2)
        values[token] = os.environ.get(name, default if default is not None else "")
        return token

    return _ENV_REF.sub(hide, text), values


def _restore_env(value: str, values: dict[str, str]) -> str:
    if "__gateway_env_" not in value:
        return value
    for token, replacement in values.items():
        value = value.replace(token, replacement)
    return value


def _to_python(node: yaml.Node, lines: dict[tuple[str, ...], int], path: tuple[str, ...],
               env: dict[str, str]) -> Any:
    """Builds plain Python from a YAML node tree, remembering each key's line."""
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _to_python(value_node, lines, (*path, key), env)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            lines[(*path, str(i))] = item.start_mark.line + 1
            items.append(_to_python(item, lines, (*path, str(i)), env))
        return items
    value = _SCALARS.construct_object(node) if isinstance(node, yaml.ScalarNode) else None
    return _restore_env(value, env) if isinstance(value, str) else value


def parse_catalog(text: str, source: str = "gateway.yaml") -> Catalog:
    text, env = _hide_env_refs(text)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{source}: not valid YAML: {exc}") from None
    if root is None:
        raise CatalogError(f"{source}: empty file")
    lines: dict[tuple[str, ...], int] = {}
    data = _to_python(root, lines, (), env)
    if not isinstance(data, dict):
        raise CatalogError(f"{source}: the top level must be a mapping")
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(str(p) for p in err["loc"])
            where = _nearest_line(lines, loc)
            key = ".".join(loc) or "(top level)"
            message = ("unknown key" if err["type"] == "extra_forbidden"
                       else str(err["msg"]).removeprefix("Value error, "))
            if not loc:  # a model validator names its own key inside the message
                key, _, message = str(err["msg"]).removeprefix("Value error, ").partition(": ")
                where = _nearest_line(lines, tuple(key.split(".")))
            problems.append(f"{source}:{where}: {key}: {message}")
        raise CatalogError("\n".join(problems)) from None


def _nearest_line(lines: dict[tuple[str, ...], int], loc: tuple[str, ...]) -> int:
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return 1


def unset_env_refs(path: Path) -> list[tuple[int, str]]:
    """(line, name) of each `${VAR}` without a default whose variable is not set: it reads as
    an empty string, which is rarely what the operator meant (an API key, a URL)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return []
    return [(number, match.group(1))
            for number, line in enumerate(text.splitlines(), start=1)
            for match in _ENV_REF.finditer(line)
            if match.group(2) is None and match.group(1) not in os.environ]


def load_catalog(path: Path | None) -> Catalog:
    """The catalog at `path`, or the built-in one (the `mock` provider) when None."""
    if path is None:
        text = resources.files("gateway").joinpath("default_catalog.yaml").read_text()
        return parse_catalog(text, "built-in catalog")
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_catalog(text, str(path))
