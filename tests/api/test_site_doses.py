"""A site pulls back the doses of its records, page by page, on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.bundle import Bundle

from ledger.values import Actor
from tests.api.conftest import dose, lan

SYSTEM = Actor("tests", "admin")
HERE, THERE = "01-TYT-001", "01-TYT-002"


def record(ledger, site_id: str, record_id: str, phone: str, **changes: Any) -> str:
    person = lan(national_id=None, phone=phone)
    fields = dose(record_id, site_id=site_id, **changes)
    return str(ledger.record_dose(actor=SYSTEM, person=person, **fields).dose_id)


def world(ledger) -> dict[str, list[str]]:
    """Doses of two sites, interleaved in the ledger, and one of them voided."""
    ledger.register_site(HERE, name="Trạm Y tế Ba Đình", kind="official", province="01", actor=SYSTEM)
    ledger.register_site(THERE, name="Trạm Y tế Hoàn Kiếm", kind="official", province="01", actor=SYSTEM)
    doses: dict[str, list[str]] = {HERE: [], THERE: []}
    for n in range(7):
        site = HERE if n % 3 != 2 else THERE
        doses[site].append(record(ledger, site, f"R{n}", f"09123450{n:02d}"))
    ledger.void_dose(doses[HERE][1], "entered twice", actor=SYSTEM)
    # Several doses saved in one transaction: each has a position of its own
    batch = ledger.record_doses(
        [
            dose(f"B{n}", site_id=HERE, person=lan(national_id=None, phone=f"09876543{n:02d}"))
            for n in range(3)
        ],
        actor=SYSTEM,
    )
    doses[HERE] += [str(o.receipt.dose_id) for o in batch if o.receipt is not None]
    return doses


def pages(caller, site_id: str, limit: int, since: int = 0) -> tuple[list[dict[str, Any]], int, int]:
    seen: list[dict[str, Any]] = []
    calls = 0
    while True:
        response = caller.get(f"/v1/sites/{site_id}/doses", params={"since_position": since, "limit": limit})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["site_id"] == site_id and len(body["doses"]) <= limit
        seen += body["doses"]
        calls += 1
        since = body["next_since_position"]
        if not body["more"]:
            return seen, since, calls


def test_pulling_back_pages_through_exactly_the_sites_doses_in_ledger_order(service):
    doses = world(service.ledger)
    site = service.caller("site", sites=[HERE])
    seen, _, calls = pages(site, HERE, limit=2)
    assert [d["dose_id"] for d in seen] == doses[HERE]
    assert calls >= 3
    positions = [d["position"] for d in seen]
    assert positions == sorted(positions)
    assert [d["site_record_id"] for d in seen] == ["R0", "R1", "R3", "R4", "R6", "B0", "B1", "B2"]
    assert [d["status"] for d in seen] == ["recorded", "voided"] + ["recorded"] * 6
    assert {d["vaccine"] for d in seen} == {"EU/1/20/1528"}
    there, _, _ = pages(service.caller("site", sites=[THERE]), THERE, limit=100)
    assert [d["dose_id"] for d in there] == doses[THERE]


def test_since_position_resumes_after_what_was_read(service):
    doses = world(service.ledger)
    site = service.caller("site", sites=[HERE])
    first, cursor, _ = pages(site, HERE, limit=100)
    assert len(first) == len(doses[HERE])
    nothing, same, _ = pages(site, HERE, limit=100, since=cursor)
    assert nothing == [] and same == cursor
    later = record(service.ledger, HERE, "LATE", "0912000000")
    record(service.ledger, THERE, "LATE", "0912000001")
    resumed, _, _ = pages(site, HERE, limit=100, since=cursor)
    assert [d["dose_id"] for d in resumed] == [later]


def test_the_same_page_as_a_fhir_searchset(service):
    doses = world(service.ledger)
    site = service.caller("site", sites=[HERE])
    by_param = site.get(f"/v1/sites/{HERE}/doses", params={"format": "fhir", "limit": 3})
    by_accept = site.get(
        f"/v1/sites/{HERE}/doses", params={"limit": 3}, headers={"Accept": "application/fhir+json"}
    )
    for response in (by_param, by_accept):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/fhir+json"
    body = by_param.json()
    assert body == by_accept.json() | {"link": body["link"]}
    Bundle.model_validate(body)
    resources = [e["resource"] for e in body["entry"]]
    assert [r["id"] for r in resources] == doses[HERE][:3]
    assert [r["identifier"][0]["value"] for r in resources] == ["R0", "R1", "R3"]
    assert [r["status"] for r in resources] == ["completed", "entered-in-error", "completed"]
    (next_url,) = [link["url"] for link in body["link"] if link["relation"] == "next"]
    rest = site.get(next_url.replace(str(service.client.base_url), "")).json()
    assert [e["resource"]["id"] for e in rest["entry"]][:1] == doses[HERE][3:4]


def test_a_site_token_pulls_back_only_its_own_sites_and_an_unknown_site_is_404(service):
    world(service.ledger)
    other = service.caller("site", sites=[THERE]).get(f"/v1/sites/{HERE}/doses")
    assert other.status_code == 403
    assert other.json()["errors"][0]["loc"] == ["path", "site_id"]
    province = service.caller("province", provinces=["79"]).get(f"/v1/sites/{HERE}/doses")
    assert province.status_code == 403
    missing = service.caller("admin").get("/v1/sites/01-NONE/doses")
    assert missing.status_code == 404


def test_a_page_that_steps_over_many_other_doses_comes_back_short_and_resumes(service, monkeypatch):
    monkeypatch.setattr("intake.fhir.records.SCAN_LIMIT", 3)
    monkeypatch.setattr("intake.fhir.records.SCAN_CHUNK", 2)
    doses = world(service.ledger)
    seen, _, calls = pages(service.caller("site", sites=[THERE]), THERE, limit=100)
    assert [d["dose_id"] for d in seen] == doses[THERE]
    assert calls >= 3  # 10 recordings; a page stops at the first chunk that reaches 3
