"""Certificate versions identified by what they certify, under the series rules in force: the
live fold, a fold of the whole ledger as one page and a rebuild give the same documents, new
rules adopted in the middle of the history included (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict

import orjson
from hypothesis import given
from hypothesis import strategies as st

from ledger.certification import (
    Certified,
    CertifiedDose,
    certificate_id,
    certificate_id_of,
    certify,
    content_digest,
)
from ledger.keys import IdKey
from ledger.series_rules import shipped
from ledger.values import Actor
from projections.certificates import Certificates
from projections.engine.stores import construct_view
from projections.running import rebuild
from tests.issuing import adopt_version_2
from tests.readside import assert_views_are_a_fresh_fold, caught_up
from tests.test_ledger import dose, lan

ADMIN = Actor("admin-1", "admin")


def test_a_derived_key_is_the_secrets_hmac_of_its_purpose_and_never_the_secret():
    secret = bytes(range(32))
    key = IdKey(secret)
    assert key.derived("certificates") == hmac.new(secret, b"derived/certificates", hashlib.sha256).digest()
    assert key.derived("certificates") != key.derived("uvci") and secret not in key.derived("certificates")
    assert IdKey(bytes(range(1, 33))).derived("certificates") != key.derived("certificates")


_text = st.text(max_size=12)
_maybe = st.none() | _text
_doses = st.builds(
    CertifiedDose,
    _text,
    _text,
    _maybe,
    _text,
    _maybe,
    st.integers(1, 9),
    st.integers(1, 9),
    _text,
    _maybe,
    _text,
)


@given(
    st.builds(
        Certified, _text, st.integers(1, 9), _text, _text, _text, st.tuples(_doses, _doses) | st.tuples()
    )
)
def test_the_canonical_bytes_are_those_of_the_sorted_dataclass(certified):
    """Built without asdict (for speed), the bytes every issued id was made from stay the same."""
    assert certified.canonical() == orjson.dumps(asdict(certified), option=orjson.OPT_SORT_KEYS)
    key = b"k" * 32
    assert certificate_id_of(content_digest(certified, key), 3, key) == certificate_id(certified, key, 3)


def test_a_version_id_is_the_keyed_id_of_what_it_certifies(ledger, views):
    pid = ledger.register_person(lan()).person_id
    dose(ledger, pid, "R1")
    caught_up(views, ledger)
    shown = views.certificates.certificate(pid)
    person = ledger.person(pid)
    from projections.records import PersonRecord

    record = PersonRecord.loads(views.certificates.load([str(pid)])[str(pid)][0].dumps())
    certified = certify(str(pid), person.details, record.evaluation(), shipped())
    assert certified is not None
    assert shown["certificate_id"] == certificate_id(
        certified, ledger.ids.derived("certificates"), shown["version"]
    )
    assert (shown["rules_version"], shown["status"]) == (1, "partial")


def history_with_new_rules_in_the_middle(ledger) -> dict[str, object]:
    """People whose certificates version 2 renumbers (a booster after Jcovden; CoronaVac's
    series of three) and others it does not, events before and after the adoption, a person
    registered after it, a merge and an erasure."""
    people = {}
    people["janssen"] = ledger.register_person(lan()).person_id
    dose(ledger, people["janssen"], "J1", vaccine="Janssen", administered_at="2021-06-01")
    dose(ledger, people["janssen"], "J2", administered_at="2021-12-01")
    people["coronavac"] = ledger.register_person(
        lan(national_id="001190000001", full_name="Trần Văn Minh")
    ).person_id
    dose(ledger, people["coronavac"], "C1", vaccine="CoronaVac", administered_at="2021-06-01")
    dose(ledger, people["coronavac"], "C2", vaccine="CoronaVac", administered_at="2021-07-01")
    people["pfizer"] = ledger.register_person(
        lan(national_id="001190000002", full_name="Lê Văn Ba")
    ).person_id
    first = dose(ledger, people["pfizer"], "P1")
    people["late_booster"] = ledger.register_person(
        lan(national_id="001190000003", full_name="Phạm Thị Hoa")
    ).person_id
    dose(ledger, people["late_booster"], "L1", vaccine="Janssen", administered_at="2021-06-01")
    people["erased"] = ledger.register_person(
        lan(national_id="001190000004", full_name="Đỗ Văn Nam")
    ).person_id
    dose(ledger, people["erased"], "E1")

    adopt_version_2(ledger)

    dose(ledger, people["pfizer"], "P2", administered_at="2021-08-29")
    ledger.amend_dose(first.dose_id, {"lot": "FA9999"}, "lot mistyped")
    dose(ledger, people["late_booster"], "L2", administered_at="2022-01-01")  # numbered by v2: 2/2
    people["after"] = ledger.register_person(
        lan(national_id="001190000005", full_name="Vũ Thị Mai")
    ).person_id
    dose(ledger, people["after"], "A1", vaccine="Janssen", administered_at="2021-06-01")
    dose(ledger, people["after"], "A2", administered_at="2021-12-01")
    people["duplicate"] = ledger.register_person(
        lan(national_id=None, full_name="Tran Van Minh", phone="0900000009")
    ).person_id
    dose(ledger, people["duplicate"], "D1", vaccine="CoronaVac", administered_at="2021-08-01")
    ledger.merge_persons(people["coronavac"], people["duplicate"], "same person", actor=ADMIN)
    ledger.erase_person(people["erased"], "the citizen's request", actor=ADMIN)
    ledger.correct_details(people["janssen"], {"full_name": "Nguyễn Thị Lan Anh"}, "name mistyped")
    return people


def test_live_one_page_and_rebuild_give_the_same_versions_with_new_rules_in_the_middle(
    ledger, store_url, projector, views
):
    people = history_with_new_rules_in_the_middle(ledger)
    caught_up(views, ledger)
    live = list(views.certificates.every())
    assert_views_are_a_fresh_fold(views, ledger)
    shown = {name: views.certificates.certificate(pid) for name, pid in people.items()}
    assert shown["janssen"]["superseded"][-2]["reason"] == "rules"  # then the name corrected
    assert shown["janssen"]["superseded"][-1]["reason"] == "details-corrected"
    assert shown["coronavac"]["rules_version"] == 2 and shown["after"]["rules_version"] == 2
    assert shown["coronavac"]["superseded"][-1]["reason"] == "merged"
    assert [r["reason"] for r in shown["pfizer"]["superseded"]] == ["dose-added", "amended"]
    assert not any(s["reason"] == "rules" for s in shown["pfizer"]["superseded"])
    assert shown["erased"]["certificate_id"] is None and shown["duplicate"]["certificate_id"] is None
    assert [d["dose_number"] for d in shown["late_booster"]["doses"]] == [1, 2]

    projector.stop()
    rebuild(store_url, "certificates", progress=False)
    assert list(views.certificates.every()) == live

    # The whole ledger as one page: the adoption among the persons' events of the same page.
    one_page = Certificates(view=construct_view(ledger, Certificates))
    one_page.view.drop()
    notifications = ledger.recorder.select_notifications(start=1, limit=10_000)
    one_page.process_notifications(notifications, ledger.mapper, after=None)
    assert list(one_page.view.every()) == live


def test_new_rules_that_change_nothing_make_no_version(ledger, views):
    pid = ledger.register_person(lan()).person_id
    dose(ledger, pid, "R1")
    dose(ledger, pid, "R2", administered_at="2021-08-29")
    caught_up(views, ledger)
    before = views.certificates.certificate(pid)
    adopt_version_2(ledger)
    caught_up(views, ledger)
    assert views.certificates.certificate(pid) == before
    dose(ledger, pid, "R3", administered_at="2022-01-01")
    caught_up(views, ledger)
    after = views.certificates.certificate(pid)
    assert after["rules_version"] == 2 and after["superseded"][-1]["reason"] == "dose-added"
