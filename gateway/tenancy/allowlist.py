"""What a tenant's allowlist lets it call, resolved against the catalog.

Entries are model names, alias names and glob patterns (`gpt-4o*`, `*`). A model is callable
if an entry matches it. An alias is callable when it reaches at least one callable chat model
(its explicit chain, or for a ranked alias any chat model), named in the allowlist or not: an
alias only ever resolves to models the tenant may call anyway, so naming it grants nothing,
and `cheapest` ranks "all models the tenant may use" as the README says. /v1/models lists
exactly what the tenant may call.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.catalog import Catalog
from gateway.tenancy.models import matches_allowlist


def callable_names(entries: Iterable[str], catalog: Catalog) -> frozenset[str]:
    entries = tuple(entries)
    models = {name for name in catalog.models if matches_allowlist(entries, name)}
    chat = {name for name in models if catalog.models[name].kind == "chat"}
    aliases = set()
    for name, alias in catalog.aliases.items():
        reachable = chat if alias.models is None else chat.intersection(alias.models)
        if reachable:
            aliases.add(name)
    return frozenset(models | aliases)
