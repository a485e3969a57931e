"""gateway.yaml texts for tests: two OpenAI-compatible fakes and the mock provider."""

from __future__ import annotations


def two_upstreams(primary_url: str, secondary_url: str, *, extra: str = "") -> str:
    return f"""
providers:
  primary:   {{type: openai, base_url: "{primary_url}", api_key: sk-upstream-secret-primary,
              timeouts: {{connect: 2, first_byte: 2, idle: 2, total: 30}}}}
  secondary: {{type: openai, base_url: "{secondary_url}", api_key: sk-upstream-secret-secondary,
              timeouts: {{connect: 2, first_byte: 2, idle: 2, total: 30}}}}
  mock:      {{type: mock}}
models:
  gpt-4o-mini:
    price: {{input: 0.15, output: 0.60, cached_input: 0.075}}
    deployments:
      - {{provider: primary, upstream: gpt-4o-mini}}
      - {{provider: secondary, upstream: gpt-4o-mini}}
  other-model:
    price: {{input: 1, output: 2}}
    deployments: [{{provider: secondary, upstream: other-model}}]
  mock-echo:
    price: {{input: 0, output: 0}}
    deployments: [{{provider: mock, upstream: echo}}]
aliases:
  auto: {{models: [gpt-4o-mini, mock-echo]}}
  cheapest: {{rank: price}}
  fastest: {{rank: latency}}
tiers:
  free: {{rpm: 2}}
  pro: {{rpm: 1000, tpm: 1000000}}
guardrails:
  pii: {{mode: redact, types: [ssn, credit_card, email, phone_us]}}
cache: {{mode: exact, ttl_seconds: 60, scope: tenant}}
{extra}
"""
