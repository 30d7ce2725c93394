"""Rate limits held in the store: two workers on one store share each count."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from config.settings import Settings
from tests.api.conftest import Caller, another_worker, lan
from tests.api.test_corrections import PATH, filed, person_with_one_dose
from tests.api.test_doses import SITE

LOOKUPS = 3
STATUS_CHECKS = 2


@pytest.fixture
def settings(store_url: str) -> Settings:
    return Settings(
        database_url=store_url,
        read_wait_seconds=5,
        lookups_per_minute=LOOKUPS,
        status_checks_per_minute=STATUS_CHECKS,
    )


def refusals(limit: str) -> float:
    return REGISTRY.get_sample_value("doseledger_rate_limit_refusals_total", {"limit": limit}) or 0.0


def test_a_site_tokens_look_ups_are_limited_across_workers(service, settings):
    token = service.token("site", **SITE)
    here = Caller(service.client, token)
    position = here.post("/v1/persons", json=lan()).json()["position"]
    before = refusals("lookups")
    with another_worker(settings) as client:
        there = Caller(client, token)
        answers = [
            caller.get("/v1/persons", params={"national_id": "001185012345", "min_position": position})
            for caller in (here, there, here)
        ]
        assert [a.status_code for a in answers] == [200] * LOOKUPS
        refused = there.get("/v1/persons", params={"national_id": "001185012345"})
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        problem = refused.json()
        assert problem["limit"] == "lookups" and "DOSELEDGER_LOOKUPS_PER_MINUTE" in problem["detail"]
        assert "001185012345" not in refused.text
        assert here.get("/v1/persons", params={"phone": "0912345678"}).status_code == 429  # this worker too
    assert refusals("lookups") == before + 2
    # another site token has its own count; other roles are not held back by the site limit
    assert (
        service.caller("site", **SITE).get("/v1/persons", params={"phone": "0912345678"}).status_code == 200
    )
    province = service.caller("province", provinces=["01"])
    assert [
        province.get("/v1/persons", params={"phone": "0912345678"}).status_code for _ in range(LOOKUPS + 1)
    ] == [200] * (LOOKUPS + 1)


def test_status_checks_are_limited_per_address_across_workers(service, settings):
    person_id, _ = person_with_one_dose(service)
    request = filed(service.caller("portal"), person_id).json()
    url = f"{PATH}/{request['request_id']}/status"
    before = refusals("status_checks")
    with another_worker(settings) as other:
        first = service.client.get(url, params={"code": "GUESS001"})
        second = other.get(url, params={"code": "GUESS002"})
        assert (first.status_code, second.status_code) == (404, 404)
        refused = service.client.get(url, params={"code": request["code"]})
        assert refused.status_code == 429 and refused.json()["limit"] == "status_checks"
        assert other.get(url, params={"code": request["code"]}).status_code == 429
    assert refusals("status_checks") == before + 2
