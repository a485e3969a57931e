"""Imports run one way (../shared/DESIGN.md, "Layout"): every import in gateway/ and
providers/ -- at module level, inside functions and under TYPE_CHECKING alike -- goes to
the same layer or a lower one, and no two packages import each other, however indirectly.

Layers, top down:
    gateway.app, gateway.cli, console  the ASGI app, the command, the admin console's pages
    gateway.api                        HTTP surface
    gateway.runtime                    the wiring of every resource
    gateway.pipeline                   the stages
    gateway.routing, limits, usage, tenancy, cache, guardrails, telemetry, prompts (the
    prompt registry, above tenancy: it writes audit rows and publishes changes), and what only the
    HTTP surface uses below it: translate (the pure client-API translations), stores (the
    stored Responses), identity (the console's roles and sessions)
    the base layer                     gateway.{settings,catalog,errors,request,db,redis_client,
                                       redis_mux} and the leaf value modules in LEAVES
    providers                          the adapters and their table
    providers.{base,sse,tokens,http}   the interface, value types and shared helpers
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "providers")

# Modules inside a package that hold only values other layers share: they sit in the base
# layer (and may import only from it and below).
LEAVES = {
    "gateway.limits.base": "gateway.limits.base",
    "gateway.tenancy.models": "gateway.tenancy.models",
    "gateway.routing.policy": "gateway.routing.policy",
    # PII detection is pure rules: the catalog checks custom patterns with it at load.
    "gateway.guardrails.pii": "gateway.guardrails.pii",
    "gateway.guardrails.detectors": "gateway.guardrails.detectors",
    "gateway.guardrails.context": "gateway.guardrails.context",
    "gateway.guardrails.emails": "gateway.guardrails.emails",
    "gateway.guardrails.pattern_shape": "gateway.guardrails.pattern_shape",
    "gateway.guardrails.fields": "gateway.guardrails.fields",
    "gateway.guardrails.table_rows": "gateway.guardrails.table_rows",
    "gateway.guardrails.sql_lists": "gateway.guardrails.sql_lists",
}
BASE_MODULES = {"settings", "catalog", "errors", "request", "db", "redis_client", "redis_mux"}
PROVIDER_BASE = {"base", "sse", "tokens", "http"}
STAGE_USES = {"routing", "limits", "usage", "tenancy", "cache", "guardrails", "telemetry", "translate", "stores",
              "identity", "prompts"}

LAYER = {"top": 7, "api": 6, "runtime": 5, "pipeline": 4, "uses": 3, "base": 2, "providers": 1, "provider-base": 0}


def unit_of(module: str) -> tuple[str, int]:
    """The package an import cycle is counted between, and its layer."""
    if module in LEAVES:
        return LEAVES[module], LAYER["base"]
    parts = module.split(".")
    head = parts[1] if len(parts) > 1 else ""
    if parts[0] == "providers":
        if head in PROVIDER_BASE:
            return f"providers.{head}", LAYER["provider-base"]
        return ("providers." + head if head else "providers"), LAYER["providers"]
    if head in ("app", "cli", "__main__", "console"):
        return f"gateway.{head}", LAYER["top"]
    if head == "api":
        return "gateway.api", LAYER["api"]
    if head == "runtime":
        return "gateway.runtime", LAYER["runtime"]
    if head == "pipeline":
        return "gateway.pipeline", LAYER["pipeline"]
    if head in STAGE_USES:
        return f"gateway.{head}", LAYER["uses"]
    if head in BASE_MODULES or head == "":
        return f"gateway.{head}" if head else "gateway", LAYER["base"]
    raise AssertionError(f"{module}: not placed in a layer; add it to this test and to DESIGN.md's Layout")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Iterator[tuple[str, int]]:
    """Every module of ours `path` imports, with the line, wherever the import statement is."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:   # `from package import module` imports the module
                submodule = f"{target}.{alias.name}"
                path_of = ROOT.joinpath(*submodule.split("."))
                yield (submodule if path_of.with_suffix(".py").exists() or path_of.is_dir() else target), node.lineno


def edges() -> Iterator[tuple[str, str, int, str]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            source = module_name(path)
            for target, line in imports_of(path):
                if target.split(".")[0] in PACKAGES:
                    yield source, target, line, str(path.relative_to(ROOT))


def test_imports_go_down_the_layers() -> None:
    wrong = []
    for source, target, line, where in edges():
        (_, from_layer), (_, to_layer) = unit_of(source), unit_of(target)
        if to_layer > from_layer:
            wrong.append(f"{where}:{line}: {source} imports {target}, a higher layer")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle_between_packages() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target, _, _ in edges():
        a, b = unit_of(source)[0], unit_of(target)[0]
        if a != b:
            graph[a].add(b)
    cycles = [group for group in strongly_connected(graph) if len(group) > 1]
    assert not cycles, f"packages importing each other: {cycles}"


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; each group of mutually reachable nodes, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            groups.append(sorted(group))

    for node in list(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_checker_sees_a_cycle_and_a_type_checking_import() -> None:
    assert sorted(strongly_connected({"a": {"b"}, "b": {"a"}, "c": {"a"}})) == [["a", "b"], ["c"]]
    source = ROOT / "gateway" / "telemetry" / "tracing.py"   # imports gateway.request under TYPE_CHECKING
    assert "gateway.request" in {target for target, _ in imports_of(source)}
