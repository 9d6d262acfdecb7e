"""schemathesis over every service's OpenAPI document on the real stack (issue 16), with
response checks: no 5xx, and every response matches what the document declares for its
status (its schema and its media type; errors are RFC 9457 problems). Bounded: a few
examples per operation, valid and invalid (schemathesis' positive and negative modes),
generation only, no shrinking, each request within 30 s.

Reads run as the operator. Writes run with a unit's token, so they are validated and
then refused (403) without changing what other tests see: an operator's generated
campaign, clock or rebuild would remind all units, move every clock or replay every
topic. (The submissions intake runs as the operator in test_submissions_rules.py.)"""

from __future__ import annotations

import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.stackfixture import Stack

pytestmark = pytest.mark.integration
SERVICES = ("submissions", "scoring", "notifications", "reporting")
EXAMPLES = 8
UNIT = "police:ha-tinh"
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def explore(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    """A few generated requests to one operation, each response checked."""
    # No shrinking: a failure prints the generated case, and shrinking can take minutes.
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

    run()


@pytest.mark.parametrize("service", SERVICES)
def test_every_response_matches_the_openapi_document(clock: Stack, service: str) -> None:
    stack = clock
    api = schemathesis.openapi.from_url(stack.cfg.service_url(service) + "/openapi.json")
    operator = {"Authorization": f"Bearer {stack.operator}"}
    unit = {"Authorization": f"Bearer {stack.token(UNIT)}"}
    seen: list[str] = []
    failures: list[str] = []
    started = time.monotonic()
    for result in api.get_all_operations():
        operation = result.ok()
        name = f"{operation.method.upper()} {operation.path}"
        seen.append(name)
        auth = operator if operation.method.upper() == "GET" else unit
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                explore(operation, mode, auth)
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE  # no parameter, no invalid request
            except Exception as exc:  # every operation is tried; all failures reported
                failures.append(f"{name} ({mode.value}): {str(exc)[:1500]}")
    assert seen and any(p.startswith("GET /v1/") for p in seen)
    assert not failures, "\n\n".join(failures)
    assert time.monotonic() - started < 600  # bounded: a hang would show here
