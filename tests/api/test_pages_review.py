"""The console's second half over plain HTTP, on both stores: possible duplicates merged and
unmerged from their page, flags resolved, a locality's people, every list downloaded as CSV and
XLSX with the session cookie (files naming people are recorded reads), and the dashboard's
backlog, coverage by district and age band and correction requests by age equal to the API's."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from html import unescape
from typing import Any

from openpyxl import load_workbook

from ledger.values import Actor
from tests.api.conftest import dose, lan
from tests.api.pages import csrf_of, sign_in

SYSTEM = Actor("tests", "admin")
MISMATCH = "dose-number-mismatch"


def caught_up(service: Any) -> None:
    """Every view has reached the ledger's head (a read that honours min_position waits for it)."""
    position = {"min_position": service.ledger.head()}
    assert service.caller("admin").get("/v1/stats/doses", params=position).status_code == 200


def reads(service: Any, person_id: Any) -> set[str]:
    log = service.caller("admin").get("/v1/audit/access", params={"person_id": str(person_id)}).json()
    return {entry["what"] for entry in log["reads"]}


def numbers(html: str, attribute: str) -> dict[str, int]:
    return {unescape(k): int(v) for k, v in re.findall(rf'data-{attribute}="([^"]*)">(\d+)<', html)}


def twins(service: Any) -> tuple[str, str]:
    """Lan twice (one name, one birth date, two national ids), a dose each on other days."""
    first = service.ledger.record_dose(actor=SYSTEM, person=lan(), **dose("T1")).person_id
    second = service.ledger.record_dose(
        actor=SYSTEM,
        person=lan(national_id="001185099999", phone="0912000111"),
        **dose("T2", administered_at="2021-08-29"),
    ).person_id
    return str(first), str(second)


def doses_of(service: Any, person_id: str) -> list[str]:
    certificate = service.caller("admin").get(
        f"/v1/certificates/{person_id}", params={"min_position": service.ledger.head()}
    )
    return [d["administered_at"][:10] for d in certificate.json()["doses"]]


def test_duplicates_are_compared_merged_and_unmerged_from_their_pages(service):
    a, b = twins(service)
    caught_up(service)
    sign_in(service.client, service.token("province", provinces=["01"]))
    listed = service.client.get("/console/duplicates")
    assert listed.status_code == 200 and a in listed.text and b in listed.text
    assert "Nguyễn Thị Lan" in listed.text
    assert "pages.duplicates" in reads(service, a) and "pages.duplicates" in reads(service, b)
    compare = service.client.get("/console/duplicates/compare", params={"a": a, "b": b})
    assert compare.status_code == 200 and "001185099999" in compare.text
    assert "pages.compare" in reads(service, b)
    # A province official merges a pair of its provinces as the admin does (its own test below).
    assert 'action="/console/duplicates/merge"' in compare.text
    outsider_client_scope = service.client.get("/console/duplicates/compare", params={"a": a, "b": a})
    assert outsider_client_scope.status_code == 422

    service.client.cookies.clear()
    sign_in(service.client, service.token("admin"))
    page = service.client.get("/console/duplicates/compare", params={"a": a, "b": b, "lang": "en"})
    csrf = csrf_of(page.text)
    head = service.ledger.head()
    for data, field, message in (
        ({"reason": "same person"}, "survivor", "Choose the record that stays."),
        ({"survivor": a}, "reason", "Give the reason for the merge."),
        ({"survivor": "someone-else", "reason": "x"}, "survivor", "Choose the record that stays."),
    ):
        bad = service.client.post("/console/duplicates/merge", data={"csrf": csrf, "a": a, "b": b, **data})
        assert bad.status_code == 422, data
        assert f'id="{field}-error"' in bad.text and message in bad.text, data
        assert service.ledger.head() == head
    merged = service.client.post(
        "/console/duplicates/merge",
        data={"csrf": csrf, "a": a, "b": b, "survivor": a, "reason": "the same person, twice"},
        follow_redirects=False,
    )
    assert merged.status_code == 303, merged.text
    assert service.ledger.person(b).merged_into is not None
    assert sorted(doses_of(service, a)) == ["2021-08-01", "2021-08-29"]
    after = service.client.get(merged.headers["location"])
    assert 'action="/console/duplicates/unmerge"' in after.text
    assert b in service.client.get("/console/duplicates").text  # listed among the merged records
    again = service.client.post(
        "/console/duplicates/merge",
        data={"csrf": csrf, "a": a, "b": b, "survivor": a, "reason": "again"},
    )
    assert again.status_code == 409 and 'id="form-error"' in again.text

    head = service.ledger.head()
    no_reason = service.client.post(
        "/console/duplicates/unmerge?lang=en", data={"csrf": csrf, "survivor": a, "duplicate": b}
    )
    assert no_reason.status_code == 422 and 'id="unmerge_reason-error"' in no_reason.text
    assert "Give the reason for undoing the merge." in no_reason.text and service.ledger.head() == head
    undone = service.client.post(
        "/console/duplicates/unmerge",
        data={"csrf": csrf, "survivor": a, "duplicate": b, "unmerge_reason": "twins: two national ids"},
        follow_redirects=False,
    )
    assert undone.status_code == 303, undone.text
    assert doses_of(service, a) == ["2021-08-01"] and doses_of(service, b) == ["2021-08-29"]
    twice = service.client.post(
        "/console/duplicates/unmerge",
        data={"csrf": csrf, "survivor": a, "duplicate": b, "unmerge_reason": "again"},
    )
    assert twice.status_code == 409 and "not merged" in twice.text


def test_a_province_official_merges_and_unmerges_a_pair_of_its_provinces_and_no_other(service):
    a, b = twins(service)
    outsider = str(
        service.ledger.register_person(lan(national_id=None, province="79", phone="0912000222")).person_id
    )
    caught_up(service)
    sign_in(service.client, service.token("province", provinces=["01"]))
    page = service.client.get("/console/duplicates/compare", params={"a": a, "b": b, "lang": "en"})
    csrf = csrf_of(page.text)
    merged = service.client.post(
        "/console/duplicates/merge",
        data={"csrf": csrf, "a": a, "b": b, "survivor": a, "reason": "the same person, twice"},
        follow_redirects=False,
    )
    assert merged.status_code == 303, merged.text
    assert service.ledger.person(b).merged_into is not None
    assert sorted(doses_of(service, a)) == ["2021-08-01", "2021-08-29"]
    after = service.client.get(merged.headers["location"])
    assert 'action="/console/duplicates/unmerge"' in after.text
    undone = service.client.post(
        "/console/duplicates/unmerge",
        data={"csrf": csrf, "survivor": a, "duplicate": b, "unmerge_reason": "twins: two national ids"},
        follow_redirects=False,
    )
    assert undone.status_code == 303, undone.text
    assert doses_of(service, a) == ["2021-08-01"] and doses_of(service, b) == ["2021-08-29"]

    # A pair with someone of another province: no page, so no form; a forged form is refused by
    # the use case (its own reads), with the message, and nothing is stored.
    caught_up(service)
    outside = service.client.get("/console/duplicates/compare", params={"a": a, "b": outsider})
    assert outside.status_code == 403 and "/console/duplicates/merge" not in outside.text
    service.ledger.merge_persons(outsider, b, "same person", actor=SYSTEM)  # an admin's, across
    head = service.ledger.head()
    message = "One of the two records is outside your provinces: you may not merge it or undo its merge."
    for url, data in (
        ("/console/duplicates/merge?lang=en", {"a": a, "b": outsider, "survivor": a, "reason": "x"}),
        ("/console/duplicates/merge?lang=en", {"a": outsider, "b": a, "survivor": outsider, "reason": "x"}),
        (
            "/console/duplicates/unmerge?lang=en",
            {"survivor": outsider, "duplicate": b, "unmerge_reason": "x"},
        ),
    ):
        forged = service.client.post(url, data={"csrf": csrf, **data})
        assert forged.status_code == 403, (url, data, forged.text)
        assert message in forged.text, data
        assert service.ledger.head() == head
    assert service.ledger.person(a).merged_into is None
    assert str(service.ledger.person(b).merged_into) == outsider


def test_a_flag_is_resolved_from_its_page_and_bad_input_is_named_beside_its_field(service):
    flagged = service.ledger.record_dose(actor=SYSTEM, person=lan(), **dose("F1", dose_number=3))
    caught_up(service)
    sign_in(service.client, service.token("province", provinces=["01"]))
    page = service.client.get("/console/flags", params={"kind": MISMATCH})
    assert page.status_code == 200 and str(flagged.dose_id) in page.text
    assert "pages.flags" in reads(service, flagged.person_id)
    wrong_kind = service.client.get("/console/flags", params={"kind": "odd", "lang": "en"})
    assert wrong_kind.status_code == 422 and 'id="kind-error"' in wrong_kind.text
    csrf = csrf_of(page.text)
    head = service.ledger.head()
    fid = f"{flagged.dose_id}-{MISMATCH}"
    no_reason = service.client.post(
        "/console/flags/resolve",
        data={"csrf": csrf, "dose_id": str(flagged.dose_id), "kind": MISMATCH, "reason": " "},
    )
    assert no_reason.status_code == 422 and f'id="reason-error-{fid}"' in no_reason.text
    assert "Give the reason the flag needs nothing more." in no_reason.text  # English: chosen above
    no_such_flag = service.client.post(
        "/console/flags/resolve",
        data={"csrf": csrf, "dose_id": str(flagged.dose_id), "kind": "interval-too-short", "reason": "x"},
    )
    assert no_such_flag.status_code == 422 and 'id="form-error"' in no_such_flag.text
    assert service.ledger.head() == head
    resolved = service.client.post(
        "/console/flags/resolve",
        data={
            "csrf": csrf,
            "dose_id": str(flagged.dose_id),
            "kind": MISMATCH,
            "shown_kind": MISMATCH,
            "reason": "the register says 3: a typo",
        },
        follow_redirects=False,
    )
    assert resolved.status_code == 303, resolved.text
    assert str(flagged.dose_id) not in service.client.get(resolved.headers["location"]).text
    official = service.caller("province", provinces=["01"])
    listed = official.get("/v1/review/flags", params={"min_position": service.ledger.head()})
    assert listed.json()["flags"] == []
    # Another province's official may not resolve it (nothing is stored).
    other = service.ledger.record_dose(
        actor=SYSTEM, person=lan(national_id="079185000001", province="79"), **dose("F2", dose_number=2)
    )
    head = service.ledger.head()
    outsider = service.client.post(
        "/console/flags/resolve",
        data={"csrf": csrf, "dose_id": str(other.dose_id), "kind": MISMATCH, "reason": "x"},
    )
    assert outsider.status_code == 422 and service.ledger.head() == head


def test_every_list_downloads_as_csv_and_xlsx_with_the_session_and_people_are_recorded_reads(service):
    a, b = twins(service)
    flagged = service.ledger.record_dose(
        actor=SYSTEM,
        person=lan(national_id="001185011111", full_name="Trần Văn Hùng"),
        **dose("X", dose_number=2),
    )
    caught_up(service)
    sign_in(service.client, service.token("province", provinces=["01"]))
    xlsx = service.client.get("/console/duplicates/export", params={"format": "xlsx"})
    assert xlsx.status_code == 200, xlsx.text
    assert xlsx.headers["content-disposition"].startswith('attachment; filename="duplicates-')
    rows = list(load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("Group", "Birth date", "People") and len(rows) == 2
    assert set(rows[1][3].split(";")) == {a, b}
    assert "pages.duplicates.export" in reads(service, a)

    flags_csv = service.client.get("/console/flags/export", params={"format": "csv", "kind": MISMATCH})
    assert flags_csv.status_code == 200 and flags_csv.headers["content-type"].startswith("text/csv")
    flags = list(csv.DictReader(io.StringIO(flags_csv.content.decode("utf-8-sig"))))
    assert [(f["Person id"], f["Dose id"]) for f in flags] == [(str(flagged.person_id), str(flagged.dose_id))]
    assert "pages.flags.export" in reads(service, flagged.person_id)

    people = service.client.get("/console/localities/01/export", params={"format": "xlsx"})
    sheet = list(load_workbook(io.BytesIO(people.content)).active.iter_rows(values_only=True))
    api_people = service.caller("province", provinces=["01"]).get("/v1/localities/01/people").json()["items"]
    assert sorted(row[0] for row in sheet[1:]) == sorted(p["person_id"] for p in api_people)
    assert len(sheet) == 4 and "pages.localities.export" in reads(service, b)

    assert service.client.get("/console/sites/export", params={"format": "csv"}).status_code == 200
    assert service.client.get("/console/corrections/export", params={"format": "xlsx"}).status_code == 200
    bad = service.client.get("/console/flags/export", params={"format": "pdf", "lang": "en"})
    assert bad.status_code == 422 and "Choose CSV or XLSX." in bad.text
    assert service.client.get("/console/localities/79/export", params={"format": "csv"}).status_code == 422
    # A bearer header opens none of these: the console's routes want the session.
    service.client.cookies.clear()
    token = service.token("province", provinces=["01"])
    plain = service.client.get(
        "/console/duplicates/export",
        params={"format": "csv"},
        headers={"Authorization": f"Bearer {token}"},
        follow_redirects=False,
    )
    assert plain.status_code == 303 and plain.headers["location"].startswith("/console/login")


def test_a_localitys_people_a_page_at_a_time_each_a_recorded_read(service):
    a, b = twins(service)
    caught_up(service)
    sign_in(service.client, service.token("province", provinces=["01"]))
    page = service.client.get("/console/localities/01")
    assert page.status_code == 200 and a in page.text and b in page.text
    assert "pages.localities" in reads(service, a)
    assert service.client.get("/console/localities/79").status_code == 404
    chosen = service.client.get("/console/localities", params={"province": "1"}, follow_redirects=False)
    assert chosen.status_code == 303 and chosen.headers["location"] == "/console/localities/01"
    bad = service.client.get("/console/localities/01", params={"status": "odd", "lang": "en"})
    assert bad.status_code == 422 and 'id="status-error"' in bad.text


def test_the_dashboards_backlog_coverage_and_correction_ages_are_the_apis(service):
    ledger = service.ledger
    ledger.register_site(
        "01-TYT-001",
        name="Trạm Y tế Ba Đình",
        kind="official",
        province="01",
        district="Ba Đình",
        actor=SYSTEM,
    )
    today = date.today()
    old, recent = (today - timedelta(days=40)).isoformat(), (today - timedelta(days=2)).isoformat()
    for n, day in enumerate([old, recent, recent]):
        ledger.record_dose(
            actor=SYSTEM,
            person=lan(
                national_id=f"00118501234{n}",
                phone=f"091234567{n}",
                birth_date=f"19{60 + 20 * (n % 2)}-01-01",
            ),
            **dose(f"B{n}", administered_at=day, site_id="01-TYT-001"),
        )
    ledger.report_tallies(
        "01-TYT-001", [{"day": old, "counts": {"Comirnaty": 5}}, {"day": recent, "counts": {"Comirnaty": 3}}]
    )
    caught_up(service)
    official = service.caller("province", provinces=["01"])
    sign_in(service.client, official.token)
    page = service.client.get("/console/").text

    by_age = official.get("/v1/stats/backlog", params={"group_by": "age"}).json()["rows"]
    assert numbers(page, "backlog-age") == {r["age"]: r["backlog"] for r in by_age}
    assert numbers(page, "backlog-age")["31-90"] == 4 and numbers(page, "backlog-age")["0-7"] == 1
    by_district = official.get("/v1/stats/backlog", params={"group_by": "district"}).json()["rows"]
    assert (
        numbers(page, "backlog-district")
        == {f"{r['province']}|{r['district'] or ''}": r["backlog"] for r in by_district}
        == {"01|Ba Đình": 5}
    )
    for group, attribute in (("district", "coverage-district"), ("age_band", "coverage-age")):
        rows = official.get("/v1/stats/coverage", params={"group_by": group}).json()["rows"]
        expected = {f"{r['province']}|{r[group] or ''}|{r['status']}": r["people"] for r in rows}
        assert numbers(page, attribute) == expected and sum(expected.values()) == 3, group
    assert "không được thống kê" not in page and "not counted by the statistics yet" not in page

    # Correction requests by age: counted from their filing times, as the queue ages them.
    person = service.ledger.person(ledger.record_dose(actor=SYSTEM, person=lan(), **dose("C1")).person_id)
    ledger.request_correction(
        str(person.id),
        "missing_dose",
        {"vaccine": "Pfizer", "administered_at": "2021-08-29", "site_id": "01-TYT-001"},
    )
    caught_up(service)
    page = service.client.get("/console/").text
    queue = official.get("/v1/correction-requests", params={"status": "unresolved"}).json()["requests"]
    assert (
        numbers(page, "corrections-age")
        == {
            "0-7": sum(1 for r in queue if r["age_days"] < 8),
            "8-30": 0,
            "31-90": 0,
            ">90": 0,
        }
        == {"0-7": 1, "8-30": 0, "31-90": 0, ">90": 0}
    )
