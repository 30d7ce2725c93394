"""HTTP itself: limits, malformed bodies, unknown routes, failures, health, metrics, OpenAPI."""

from __future__ import annotations

import json

from eventsourcing.persistence import OperationalError

from api.app import create_app
from config.settings import MiB
from tests.api.conftest import dose, lan
from tests.api.test_access import EXPECTED_ROLES, PUBLIC
from tests.api.test_doses import SITE


def problem(response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["type"].endswith("/" + kind)
    assert body["title"] and body["detail"]
    return body


def test_a_body_over_the_limit_is_413_whether_declared_or_streamed(service):
    site = service.caller("site", **SITE)
    padding = "x" * (2 * MiB)
    declared = site.post("/v1/doses", json=dose("R1", person=lan(address=padding)))

    def chunks():  # no Content-Length: counted while it streams in
        yield b'{"site_id": "01-TYT-001", "lot": "'
        for _ in range(3 * 1024):
            yield b"x" * 1024
        yield b'"}'

    streamed = site.post("/v1/doses", content=chunks(), headers={"content-type": "application/json"})
    problem(declared, 413, "too-large")
    problem(streamed, 413, "too-large")


def test_a_batch_may_be_larger_than_a_single_dose_up_to_its_own_limit(service):
    site = service.caller("site", **SITE)
    big = [dose(f"B{i}", person=lan(national_id=None, address="y" * 2500)) for i in range(1000)]
    body = json.dumps({"doses": big})
    assert 2 * MiB < len(body) < 8 * MiB
    accepted = site.post("/v1/doses/batch", content=body, headers={"content-type": "application/json"})
    too_big = site.post("/v1/doses/batch", json={"doses": big * 4})
    assert accepted.status_code == 200, accepted.text[:300]
    assert accepted.json()["counts"]["rejected"] == 1000  # the address is over 300 characters
    problem(too_big, 413, "too-large")


def test_malformed_json_is_400_naming_the_body(service):
    site = service.caller("site", **SITE)
    response = site.post(
        "/v1/doses", content=b'{"site_id": "01-TYT-001",', headers={"content-type": "application/json"}
    )
    assert problem(response, 400, "malformed-body")["errors"][0]["loc"] == ["body"]


def test_json_nested_very_deep_is_refused_without_harm(service):
    site = service.caller("site", **SITE)
    deep = b"[" * 100_000 + b"]" * 100_000
    nested = b'{"person": ' + b'{"a": ' * 5_000 + b"1" + b"}" * 5_001
    problem(
        site.post("/v1/doses", content=deep, headers={"content-type": "application/json"}),
        400,
        "malformed-body",
    )
    problem(
        site.post("/v1/doses", content=nested, headers={"content-type": "application/json"}),
        400,
        "malformed-body",
    )
    assert service.client.get("/healthz").status_code == 200


def test_an_unknown_route_is_404_and_a_wrong_method_405(service):
    auditor = service.caller("auditor")
    problem(auditor.get("/v1/nothing-here"), 404, "not-found")
    wrong = auditor.request("DELETE", "/v1/doses")
    problem(wrong, 405, "method-not-allowed")
    assert "POST" in wrong.headers["allow"]


class Broken:
    """Views that fail as a real store can."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.certificates = self

    def certificate(self, person_id):
        raise self.error

    async def certificate_on_loop(self, person_id):
        raise self.error

    def status(self):
        raise self.error

    def close(self):
        pass


def test_an_unexpected_error_is_500_without_a_stack_trace(service):
    service.app.state.views = Broken(RuntimeError("secret internals at line 42"))
    response = service.caller("auditor").get("/v1/certificates/6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e")
    body = problem(response, 500, "internal")
    assert "secret" not in response.text and "Traceback" not in response.text and "errors" not in body


def test_an_unreachable_or_locked_store_is_503_with_retry_after(service, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OperationalError("connection refused / lock timeout")

    monkeypatch.setattr(service.ledger, "record_reports", unreachable)  # the group-commit path
    service.app.state.views = Broken(OperationalError("connection refused"))
    site = service.caller("site", **SITE)
    write = site.post("/v1/doses", json=dose("R1", person=lan()))
    read = site.get("/v1/certificates/6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e")
    for response in (write, read):
        problem(response, 503, "unavailable")
        assert response.headers["retry-after"]


def test_health_needs_no_token_and_metrics_count_requests_doses_and_rejections(service):
    site = service.caller("site", **SITE)
    site.post("/v1/doses", json=dose("R1", person=lan()))
    site.post("/v1/doses", json=dose("R1", person=lan()))
    site.post("/v1/doses", json=dose("R2", person=lan(), vaccine="Snake Oil"))
    assert service.client.get("/healthz").json() == {"status": "ok"}
    service.client.get("/openapi.json")
    service.client.get("/v1/doses/2b8f8c1e-5d7a-5b6c-8e9f-0a1b2c3d4e5f/void")  # 405, routed
    service.client.get("/no/such/page")
    metrics = service.client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'doseledger_http_requests_total{method="POST",route="/v1/doses",status="201"}' in text
    assert "doseledger_doses_appended_total" in text and "doseledger_dose_duplicates_total" in text
    assert 'doseledger_rejections_total{reason="unknown-vaccine"}' in text
    for projection in service.app.state.views.status():
        assert f'doseledger_projection_lag_events{{projection="{projection["name"]}"}}' in text
    assert 'route="/openapi.json",status="200"' in text and 'route="unmatched",status="404"' in text
    assert "2b8f8c1e" not in text and "/no/such/page" not in text  # templates, never raw paths


def test_every_operation_is_documented_with_its_security_and_every_model_with_an_example():
    spec = create_app(views=object()).openapi()
    assert spec["components"]["securitySchemes"]["token"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["token"]["description"],
    }
    public = {key for key, roles in EXPECTED_ROLES.items() if roles == PUBLIC}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), (method, path)
            if (method.upper(), path) in public:
                assert "security" not in operation and "401" not in operation["responses"], (method, path)
            elif path.startswith("/v1"):
                assert operation["security"] == [{"token": []}], (method, path)
                assert "application/problem+json" in operation["responses"]["401"]["content"]
    for name, schema in spec["components"]["schemas"].items():
        assert schema.get("examples"), name
