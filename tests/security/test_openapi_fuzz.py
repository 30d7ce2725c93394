"""schemathesis against the service's own OpenAPI: every operation, valid and invalid requests.

Each operation gets requests that fit its schema and requests that do not, sent with an admin
token (the role that reaches deepest). Nothing may answer 5xx, and afterwards the store holds
no half-written dose. CI sends a few per operation; DOSELEDGER_HEAVY=1 sends ≥ 10,000 in all.
"""

from __future__ import annotations

import os
from collections import Counter

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.reliability.stored import doses_by_site_record, site_record_claims

HEAVY = os.environ.get("DOSELEDGER_HEAVY") == "1"


def fuzz(
    operation,
    mode: GenerationMode,
    examples: int,
    headers: dict[str, str],
    statuses: Counter[int],
    failures: list[str],
) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=not HEAVY,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def send(case) -> None:
        response = case.call(headers=headers)
        statuses[response.status_code] += 1
        if response.status_code == 503 and "have not reached position" in response.text:
            return  # read-your-writes for a position not yet written: 503 + Retry-After, by contract
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} {response.status_code}: {response.text[:300]}"
            )

    try:
        send()
    except Unsatisfiable:
        # An operation without parameters or body (/healthz, /metrics) has no invalid form.
        assert mode == GenerationMode.NEGATIVE


def test_no_generated_request_gets_a_5xx_or_leaves_a_partial_write(service, store_url):
    schema = schemathesis.openapi.from_asgi("/openapi.json", service.app)
    headers = {"Authorization": f"Bearer {service.token('admin')}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    per_operation = 400 if HEAVY else 6
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode, per_operation, headers, statuses, failures)
    print(
        f"\n[schemathesis] store={store_url.split(':')[0]} operations={len(operations)} "
        f"requests={sum(statuses.values())} statuses={dict(sorted(statuses.items()))} "
        f"5xx other than a not-yet-reached min_position={len(failures)}"
    )
    assert failures == []
    assert len(operations) >= 15 and sum(statuses.values()) >= len(operations) * 2
    assert site_record_claims(service.ledger) == doses_by_site_record(service.ledger)
