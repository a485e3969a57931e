"""schemathesis over the gateway's own /openapi.json, against a running gateway: requests
that fit the document and requests that break it, for every operation, a bounded number of
each. No answer may be a 5xx, and every 4xx must be in its API's error shape."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.conftest import FuzzTarget, error_shape_problem

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

EXAMPLES = 20            # per operation and mode: 27 operations x 2 modes -> ~1,000 requests, ~1 min
BUDGET_SECONDS = 240     # the whole run; an operation past it is not started
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


def fuzz_operation(operation: schemathesis.APIOperation[Any, Any, Any, Any], mode: GenerationMode, target: FuzzTarget,
                   session: requests.Session, problems: list[str]) -> int:
    """Sends up to EXAMPLES generated requests of one operation; notes problems; returns how many were sent."""
    sent = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case[Any]) -> None:
        nonlocal sent
        response = case.call(base_url=target.gw.url, session=session, headers=target.headers(case.path),
                             timeout=30)
        sent += 1
        where = f"{case.method} {case.formatted_path} ({mode.value})"
        if response.status_code >= 500:
            problems.append(f"{where}: {response.status_code} {response.content[:200]!r}")
        elif (problem := error_shape_problem(case.path, response.status_code, response.content)) is not None:
            problems.append(f"{where}: {response.status_code} {problem}")
        else:   # the document is faithful: the status is one it lists, the body fits its schema
            try:
                case.validate_response(response, checks=CONFORMANCE)
            except Exception as exc:     # schemathesis raises its failures (a group of them)
                problems.append(f"{where}: {response.status_code} does not match the document: {str(exc)[:300]}")

    try:
        check()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        # nothing in this operation can be made invalid (no parameters, no body)
    return sent


def test_no_5xx_and_every_4xx_in_its_apis_shape(fuzz_target: FuzzTarget) -> None:
    schema = schemathesis.openapi.from_url(fuzz_target.gw.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 20
    problems: list[str] = []
    sent = 0
    started = time.monotonic()
    with requests.Session() as session:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                if time.monotonic() - started > BUDGET_SECONDS:
                    pytest.fail(f"the budget of {BUDGET_SECONDS}s ran out after {sent} requests")
                sent += fuzz_operation(operation, mode, fuzz_target, session, problems)
    print(f"\nschemathesis: {sent} requests over {len(operations)} operations in "
          f"{time.monotonic() - started:.1f}s, {len(problems)} problems")
    assert problems == [], "\n".join(problems[:30])
