"""Reading a Prometheus text scrape into samples, for asserting exact values and deltas.
Registries are process-global, so tests compare a scrape after traffic with one before."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

SampleKey = tuple[str, frozenset[tuple[str, str]]]


class Samples:
    def __init__(self, text: str) -> None:
        self.text = text
        self.values: dict[SampleKey, float] = {}
        self.families: dict[str, str] = {}
        for family in text_string_to_metric_families(text):
            self.families[family.name] = family.type
            for sample in family.samples:
                self.values[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        """One series' value (0 when it does not exist yet)."""
        return self.values.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """The sum over every series of `name` whose labels include `labels`."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.values.items() if n == name and wanted <= ls)

    def delta(self, before: Samples, name: str, **labels: str) -> float:
        return self.value(name, **labels) - before.value(name, **labels)

    def total_delta(self, before: Samples, name: str, **labels: str) -> float:
        return self.total(name, **labels) - before.total(name, **labels)


def scrape(base_url: str) -> Samples:
    response = httpx.get(base_url + "/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Samples(response.text)
