"""`doseledger access …` on each store, and the commands that show a person's record logging it."""

from __future__ import annotations

import getpass
import json

import pytest

from tests.readside import caught_up
from tests.test_ledger import dose, lan
from usecases.application import DoseLedger

OPERATOR = f"cli:{getpass.getuser()}"


@pytest.fixture
def people(store_url) -> tuple[str, str]:
    """Two people who share a phone; an official read both in one look-up, then one certificate."""
    with DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url}) as ledger:
        lan_id = str(ledger.register_person(lan()).person_id)
        dose(ledger, lan_id, "R1")
        nam_id = str(ledger.register_person(lan(full_name="Lê Văn Nam", national_id=None)).person_id)
        ledger.access_log.record("official-1", "province", [lan_id, nam_id], "persons.look_up", "10.0.0.7")
        ledger.access_log.record("official-1", "province", [lan_id], "certificate", "10.0.0.7")
        ledger.access_log.record("site-1", "site", [nam_id], "certificate")
    return lan_id, nam_id


def reads(store_url, **query) -> list:
    with DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url}) as ledger:
        return ledger.access_log.find(**query, limit=1000)[0]


def test_the_log_by_person_and_by_principal_pages_on_and_is_itself_logged(cli, people, store_url):
    lan_id, nam_id = people
    code, out, _ = cli("access", "--person", lan_id, "--json")
    assert code == 0
    found = json.loads(out)
    assert [(r["principal_id"], r["what"], r["client"]) for r in found["reads"]] == [
        ("official-1", "persons.look_up", "10.0.0.7"),
        ("official-1", "certificate", "10.0.0.7"),
    ]
    code, out, _ = cli("access", "--principal", "official-1", "--limit", "2", "--json")
    page = json.loads(out)
    assert [r["person_id"] for r in page["reads"]] == sorted([lan_id, nam_id])
    code, out, _ = cli("access", "--principal", "official-1", "--since", str(page["next_since_position"]))
    assert code == 0 and "certificate" in out and lan_id in out and "more:" not in out
    mine = reads(store_url, principal_id=OPERATOR)
    assert [(r.role, r.what) for r in mine][:1] == [("admin", "access.log")]
    assert {r.person_id for r in mine} == {lan_id, nam_id}


def test_a_persons_report_names_who_read_them_and_nobody_else(cli, people, store_url):
    lan_id, nam_id = people
    code, out, _ = cli("access", "report", nam_id, "--json")
    assert code == 0
    report = json.loads(out)
    assert [(r["principal_id"], r["role"], r["what"]) for r in report["reads"]] == [
        ("official-1", "province", "persons.look_up"),
        ("site-1", "site", "certificate"),
    ]
    assert [(r["principal_id"], r["reads"]) for r in report["readers"]] == [("official-1", 1), ("site-1", 1)]
    assert lan_id not in out and "10.0.0.7" not in out
    code, out, _ = cli("access", "report", nam_id)
    assert code == 0 and "official-1" in out and "site-1" in out
    assert [r.what for r in reads(store_url, person_id=nam_id, principal_id=OPERATOR)] == [
        "access.report",
        "access.report",
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ("access",),
        ("access", "report"),
        ("access", "report", "x", "--person", "y"),
        ("access", "--person", "not-a-uuid"),
        ("access", "--principal", "p", "--limit", "0"),
    ],
)
def test_a_wrong_use_says_what_to_give_and_exits_2(cli, argv):
    code, _, err = cli(*argv)
    assert code == 2 and "doseledger access:" in err


def test_showing_a_persons_record_from_the_command_line_is_logged(cli, people, store_url):
    lan_id, _ = people
    assert cli("replay", "history", lan_id, "--json")[0] == 0
    assert cli("replay", "explain", lan_id)[0] == 0
    assert [r.what for r in reads(store_url, person_id=lan_id, principal_id=OPERATOR)] == [
        "replay.history",
        "replay.explain",
    ]


def test_showing_a_correction_request_is_logged_as_a_read_of_its_person(cli, people, store_url):
    lan_id, _ = people
    with DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url}) as ledger:
        claim = {"vaccine": "Pfizer", "administered_at": "2021-08-29", "site_id": "HN-001"}
        request_id = str(ledger.request_correction(lan_id, "missing_dose", claim).request_id)
    assert cli("corrections", "show", request_id)[0] == 0
    assert [r.what for r in reads(store_url, person_id=lan_id, principal_id=OPERATOR)] == ["corrections.show"]


def test_listing_correction_requests_is_logged_as_a_read_of_their_people(cli, ledger, views):
    lan_id = str(ledger.register_person(lan()).person_id)
    claim = {"vaccine": "Pfizer", "administered_at": "2021-08-29", "site_id": "HN-001"}
    ledger.request_correction(lan_id, "missing_dose", claim)
    caught_up(views, ledger)
    code, out, _ = cli("corrections", "list", "--json")
    assert code == 0 and lan_id in out
    rows, _ = ledger.access_log.find(person_id=lan_id, principal_id=OPERATOR)
    assert [r.what for r in rows] == ["corrections.list"]
