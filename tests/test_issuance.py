"""The issuer, on SQLite and PostgreSQL: each version that becomes current is signed once and
recorded as an Issuance; each issued version a later one supersedes is revoked, with the reason
and the successor."""

from __future__ import annotations

from uuid import UUID

import pytest

from ledger.certification import content_digest
from ledger.values import Actor
from projections.running import issue_missing, rebuild
from tests.issuing import CountingSign, adopt_version_2, issuance, revocation
from tests.readside import caught_up
from tests.test_ledger import dose, lan

ADMIN = Actor("admin-1", "admin")


def test_a_dose_issues_one_version_signed_once(ledger, signing_views, sign):
    views = signing_views
    pid = ledger.register_person(lan()).person_id
    caught_up(views, ledger)
    assert sign.calls == []  # nothing certified: nothing signed
    dose(ledger, pid, "R1")
    caught_up(views, ledger)
    certificate = views.certificates.certificate(pid)
    issued = issuance(ledger, certificate["certificate_id"])
    assert issued is not None and sign.calls == [certificate["certificate_id"]]
    assert (issued.person_id, issued.certificate_version, issued.rules_version) == (
        str(pid),
        certificate["version"],
        certificate["rules_version"],
    )
    assert issued.content_digest == certificate["content_digest"]
    assert len(issued.dcc) == 1 and issued.shc is not None and issued.revoked is None
    events = list(ledger.events.get(UUID(certificate["certificate_id"])))
    assert [type(e).__name__ for e in events] == ["Issued"]
    assert events[0].actor == {"principal_id": "issuer", "role": "system"}


def test_an_amendment_issues_a_new_version_and_revokes_the_old_one(ledger, signing_views, sign):
    views = signing_views
    pid = ledger.register_person(lan()).person_id
    receipt = dose(ledger, pid, "R1")
    caught_up(views, ledger)
    first = views.certificates.certificate(pid)["certificate_id"]
    ledger.amend_dose(receipt.dose_id, {"lot": "FA9999"}, "lot mistyped")
    caught_up(views, ledger)
    second = views.certificates.certificate(pid)
    assert second["certificate_id"] != first and issuance(ledger, second["certificate_id"]) is not None
    assert revocation(ledger, first) == ("amended", second["certificate_id"])
    # The stream's own versions: its Issued, then its Revoked (whatever the certificate's version).
    assert [(type(e).__name__, e.originator_version) for e in ledger.events.get(UUID(first))] == [
        ("Issued", 1),
        ("Revoked", 2),
    ]
    assert sign.calls == [first, second["certificate_id"]]
    assert second["superseded"] == [
        {"certificate_id": first, "reason": "amended", "successor": second["certificate_id"]}
    ]


def test_a_content_that_comes_back_is_a_new_version_issued_again(ledger, signing_views, sign):
    """A lot amended and amended back certifies what an earlier version did: the new version
    gets an id of its own and is signed, while the earlier one stays revoked (a verifier holding
    its QR keeps refusing it; nothing revoked is ever made valid again)."""
    views = signing_views
    pid = ledger.register_person(lan()).person_id
    receipt = dose(ledger, pid, "R1")
    caught_up(views, ledger)
    first = views.certificates.certificate(pid)
    ledger.amend_dose(receipt.dose_id, {"lot": "FA9999"}, "lot mistyped")
    ledger.amend_dose(receipt.dose_id, {"lot": first["doses"][0]["lot"]}, "the first lot was right")
    caught_up(views, ledger)
    third = views.certificates.certificate(pid)
    assert third["version"] == first["version"] + 2 and third["content_digest"] == first["content_digest"]
    assert third["certificate_id"] != first["certificate_id"]
    assert issuance(ledger, third["certificate_id"]) is not None
    assert revocation(ledger, third["certificate_id"]) == (None, None)
    assert revocation(ledger, first["certificate_id"])[0] == "amended"


def test_a_void_revokes_and_voiding_the_last_dose_leaves_no_certificate(ledger, signing_views, sign):
    views = signing_views
    pid = ledger.register_person(lan()).person_id
    first = dose(ledger, pid, "R1")
    caught_up(views, ledger)  # each version current in its turn: each signed
    second = dose(ledger, pid, "R2", administered_at="2021-08-29")
    caught_up(views, ledger)
    both = views.certificates.certificate(pid)["certificate_id"]
    ledger.void_dose(first.dose_id, "entered in error")
    caught_up(views, ledger)
    one = views.certificates.certificate(pid)["certificate_id"]
    assert revocation(ledger, both) == ("voided", one)
    ledger.void_dose(second.dose_id, "entered in error")
    caught_up(views, ledger)
    none = views.certificates.certificate(pid)
    assert none["certificate_id"] is None and none["status"] == "none"
    assert revocation(ledger, one) == ("voided", None)
    assert len(sign.calls) == len(set(sign.calls)) == 3 and sign.calls[1:] == [both, one]


def test_a_merge_revokes_both_and_issues_the_survivors_new_version(ledger, signing_views, sign):
    views = signing_views
    survivor = ledger.register_person(lan()).person_id
    duplicate = ledger.register_person(lan(national_id=None, full_name="Nguyen Thi Lan")).person_id
    dose(ledger, survivor, "R1")
    dose(ledger, duplicate, "R2", administered_at="2021-08-29")
    caught_up(views, ledger)
    kept_before = views.certificates.certificate(survivor)["certificate_id"]
    gone_before = views.certificates.certificate(duplicate)["certificate_id"]
    ledger.merge_persons(survivor, duplicate, "same person registered twice", actor=ADMIN)
    caught_up(views, ledger)
    kept = views.certificates.certificate(survivor)
    gone = views.certificates.certificate(duplicate)
    assert gone["certificate_id"] is None and kept["status"] == "complete"
    assert revocation(ledger, gone_before) == ("merged", None)
    assert revocation(ledger, kept_before) == ("merged", kept["certificate_id"])
    assert issuance(ledger, kept["certificate_id"]).certificate_version == kept["version"]
    assert sorted(sign.calls) == sorted([kept_before, gone_before, kept["certificate_id"]])


def test_an_erasure_revokes_and_issues_nothing_new(ledger, signing_views, sign):
    views = signing_views
    pid = ledger.register_person(lan()).person_id
    dose(ledger, pid, "R1")
    caught_up(views, ledger)
    issued = views.certificates.certificate(pid)["certificate_id"]
    ledger.erase_person(pid, "the citizen's request", actor=ADMIN)
    caught_up(views, ledger)
    certificate = views.certificates.certificate(pid)
    assert certificate["certificate_id"] is None and certificate["erased"] is True
    assert revocation(ledger, issued) == ("erased", None)
    assert sign.calls == [issued]


def test_a_corrected_name_reissues_and_a_phone_changes_nothing(ledger, signing_views, sign):
    views = signing_views
    pid = ledger.register_person(lan()).person_id
    dose(ledger, pid, "R1")
    caught_up(views, ledger)
    before = views.certificates.certificate(pid)
    ledger.correct_details(pid, {"phone": "0900000001"}, "new phone")
    caught_up(views, ledger)
    assert views.certificates.certificate(pid)["certificate_id"] == before["certificate_id"]
    ledger.correct_details(pid, {"full_name": "Nguyễn Thị Lan Anh"}, "name mistyped")
    caught_up(views, ledger)
    after = views.certificates.certificate(pid)
    assert after["version"] == before["version"] + 1
    assert revocation(ledger, before["certificate_id"]) == ("details-corrected", after["certificate_id"])
    assert sign.calls == [before["certificate_id"], after["certificate_id"]]


@pytest.mark.parametrize("stop", ["before-the-view-commits", "never"])
def test_a_page_folded_again_signs_nothing_twice(ledger, store_url, stop):
    """A page handed again (a retry; a stop between the issuer's save and the view's commit)
    finds its issuances stored: no second signature, no second Issued."""
    from projections.certificates import Certificates
    from projections.engine.stores import construct_view
    from usecases.issuance import Issuer

    pid = ledger.register_person(lan()).person_id
    dose(ledger, pid, "R1")
    dose(ledger, pid, "R2", administered_at="2021-08-29")
    counting = CountingSign()
    projection = Certificates(view=construct_view(ledger, Certificates))
    projection.issuer = Issuer(ledger, counting)
    page = ledger.recorder.select_notifications(start=1, limit=100)
    if stop == "before-the-view-commits":
        save = projection.view.save

        def stopped(*args, **kwargs):
            raise RuntimeError("the process stopped here")

        projection.view.save = stopped
        with pytest.raises(RuntimeError):
            projection.process_notifications(page, ledger.mapper, after=None)
        projection.view.save = save
        assert len(counting.calls) == 1 and projection.view.position() is None
    else:
        projection.process_notifications(page, ledger.mapper, after=None)
        again = Certificates(view=construct_view(ledger, Certificates))
        again.issuer = Issuer(ledger, counting)
        projection = again
        # The view committed: the same page folded again onto a fresh view's tables.
        projection.view.drop()
    projection.process_notifications(page, ledger.mapper, after=None)
    current = projection.view.certificate(pid)["certificate_id"]
    assert counting.calls == [current]
    assert [type(e).__name__ for e in list(ledger.events.get(UUID(current)))] == ["Issued"]


def test_two_issuers_racing_record_one_issuance(ledger, sign):
    """The second save loses on the store's unique (id, version): saved one by one, it keeps
    the first's, and whatever it signed is not recorded."""
    from ledger.series_rules import shipped
    from projections.certificate_versions import Versions
    from projections.records import fold_people
    from usecases.issuance import CERTIFICATES, Current, Issuer

    pid = ledger.register_person(lan()).person_id
    dose(ledger, pid, "R1")
    key = ledger.ids.derived(CERTIFICATES)
    versions = Versions(key, shipped())
    versions.fold(list(ledger.events.get(pid)))
    document = versions.documents[str(pid)]
    current = Current(versions.certified[str(pid)], document["certificate_id"], str(pid), document["version"])
    first, second = Issuer(ledger, sign), Issuer(ledger, sign)
    stored = second._stored  # the second looked before the first saved
    second._stored = lambda ids: {}
    assert first.issue([current]).issued == [current.certificate_id]
    assert second.issue([current]).issued == [current.certificate_id]  # signed, then lost the race
    second._stored = stored
    events = list(ledger.events.get(UUID(current.certificate_id)))
    assert [type(e).__name__ for e in events] == ["Issued"]
    assert events[0].content_digest == content_digest(current.certified, key)
    assert fold_people  # the record's fold is the view's


def test_a_rebuild_signs_nothing_and_gives_the_same_ids(ledger, store_url, sign):
    from projections import open_views
    from projections.running import start_embedded
    from tests.readside import FAST

    running = start_embedded(store_url, sign=sign, **FAST)
    views = open_views(store_url)
    try:
        people = [
            ledger.register_person(lan(national_id=f"0011850000{n:02d}", full_name=f"Lan {n}")).person_id
            for n in range(3)
        ]
        for n, pid in enumerate(people):
            receipt = dose(ledger, pid, f"R{n}")
            if n == 1:
                ledger.amend_dose(receipt.dose_id, {"lot": "X1"}, "lot mistyped")
        caught_up(views, ledger)
        live = list(views.certificates.every())
        signed = list(sign.calls)
        running.stop()
        rebuild(store_url, "certificates", progress=False)
        assert list(views.certificates.every()) == live
        assert sign.calls == signed  # a rebuild signs nothing
        # Everything current was issued live: nothing is missing.
        assert issue_missing(store_url, sign) == 0 and sign.calls == signed
    finally:
        views.close()
        running.stop()


def test_certificates_issue_after_a_rebuild_issues_only_what_is_missing(
    ledger, store_url, cli, monkeypatch, tmp_path
):
    from projections import open_views
    from projections.running import start_embedded
    from signing.documents import Signers, assemble_version
    from tests.readside import FAST

    early = CountingSign()
    running = start_embedded(store_url, **FAST)  # no keys: nothing signed
    views = open_views(store_url)
    try:
        first = ledger.register_person(lan()).person_id
        dose(ledger, first, "R1")
        caught_up(views, ledger)
        running.stop()
        running = start_embedded(store_url, sign=early, **FAST)  # keys now: the start issues it
        caught_up(views, ledger)
        issued = views.certificates.certificate(first)["certificate_id"]
        _wait_for(lambda: issuance(ledger, issued) is not None)
        assert early.calls == [issued]
        running.stop()
        running = start_embedded(store_url, **FAST)
        other = ledger.register_person(lan(national_id="001190000001", full_name="Trần Văn Minh")).person_id
        dose(ledger, other, "M1")
        nobody = ledger.register_person(lan(national_id="001190000002", full_name="Lê Văn Ba")).person_id
        caught_up(views, ledger)
        running.stop()
        rebuild(store_url, "certificates", progress=False)
        missing = views.certificates.certificate(other)["certificate_id"]
        assert issuance(ledger, missing) is None

        with monkeypatch.context() as keyless:
            keyless.setenv("DOSELEDGER_SIGNING_KEYS_DIR", str(tmp_path / "no-keys"))
            code, out, _ = cli("certificates", "issue")
        assert code == 2 and "no certificate signing keys" in out and issuance(ledger, missing) is None

        code, out, _ = cli("certificates", "issue")  # the run's keys (tests/conftest.py)
        assert (code, out.strip()) == (0, "1 certificate versions issued")
        signed = issuance(ledger, missing)
        assert signed.person_id == str(other) and signed.dcc[0]["kid"] and signed.shc["rid"]
        assert views.certificates.certificate(nobody)["certificate_id"] is None
        assert [type(e).__name__ for e in ledger.events.get(UUID(issued))] == ["Issued"]  # left as it was
        code, out, _ = cli("certificates", "issue")
        assert (code, out.strip()) == (0, "0 certificate versions issued")  # again: nothing
        # What was signed assembles into the QR texts the API serves.
        from projections.certificates import Certificates
        from projections.engine.stores import construct_view

        view = construct_view(ledger, Certificates)
        record, document = view.load([str(other)])[str(other)]
        from projections.certificate_versions import certified_of

        certified = certified_of(record, record.evaluation(), view.rules_in_force())
        forms = assemble_version(certified, signed.dcc, signed.shc)
        assert forms.dcc[0]["qr"].startswith("HC1:") and forms.shc["qr"][0].startswith("shc:/")
        assert Signers  # the forms' signers come from the keys folder
    finally:
        views.close()
        running.stop()


def _wait_for(condition, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time given"
        time.sleep(0.05)


def test_new_rules_reissue_only_the_certificates_they_renumber(ledger, signing_views, sign):
    """Version 2 writes a booster after Jcovden 2/2 (not 2/1): that certificate is re-issued and
    its former version revoked for the rules; two doses of Comirnaty read as before: nothing."""
    views = signing_views
    janssen = ledger.register_person(lan()).person_id
    dose(ledger, janssen, "J1", vaccine="Janssen", administered_at="2021-06-01")
    dose(ledger, janssen, "J2", administered_at="2021-12-01")
    two = ledger.register_person(lan(national_id="001190000001", full_name="Trần Văn Minh")).person_id
    dose(ledger, two, "T1")
    dose(ledger, two, "T2", administered_at="2021-08-29")
    caught_up(views, ledger)
    before = {pid: views.certificates.certificate(pid) for pid in (janssen, two)}
    assert [(d["dose_number"], d["booster"]) for d in before[janssen]["doses"]] == [(1, False), (2, True)]
    signed = list(sign.calls)

    adopt_version_2(ledger)
    caught_up(views, ledger)
    after = {pid: views.certificates.certificate(pid) for pid in (janssen, two)}
    assert after[two] == before[two]  # nothing renumbered: no version, no signature
    renumbered = after[janssen]
    assert renumbered["version"] == before[janssen]["version"] + 1 and renumbered["rules_version"] == 2
    assert renumbered["superseded"][-1] == {
        "certificate_id": before[janssen]["certificate_id"],
        "reason": "rules",
        "successor": renumbered["certificate_id"],
    }
    assert revocation(ledger, before[janssen]["certificate_id"]) == ("rules", renumbered["certificate_id"])
    assert issuance(ledger, renumbered["certificate_id"]).rules_version == 2
    assert sign.calls == [*signed, renumbered["certificate_id"]]


def test_versions_current_only_within_a_page_are_never_signed(ledger):
    """A page with the doses and new rules after them: only the version current at its end is
    signed (nothing was issued before it, so nothing is revoked)."""
    from projections.certificates import Certificates
    from projections.engine.stores import construct_view
    from usecases.issuance import Issuer

    pid = ledger.register_person(lan()).person_id
    dose(ledger, pid, "J1", vaccine="Janssen", administered_at="2021-06-01")
    dose(ledger, pid, "J2", administered_at="2021-12-01")
    adopt_version_2(ledger)
    counting = CountingSign()
    projection = Certificates(view=construct_view(ledger, Certificates))
    projection.issuer = Issuer(ledger, counting)
    page = ledger.recorder.select_notifications(start=1, limit=100)
    projection.process_notifications(page, ledger.mapper, after=None)
    certificate = projection.view.certificate(pid)
    assert [s["reason"] for s in certificate["superseded"]] == ["dose-added", "rules"]
    assert counting.calls == [certificate["certificate_id"]]
    issued = issuance(ledger, certificate["certificate_id"])
    assert issued.rules_version == 2 and issued.revoked is None
    for earlier in certificate["revoked"]:
        assert issuance(ledger, earlier) is None


def test_a_version_that_cannot_be_signed_is_left_and_the_page_goes_on(ledger, caplog):
    """A signing function raising ValueError for one version (content no form carries) does not
    stop the page: the others are signed, the view is saved, the log names the id only."""
    from projections.certificates import Certificates
    from projections.engine.stores import construct_view
    from usecases.issuance import Issuer

    counting = CountingSign()
    refused = ledger.register_person(lan(full_name="Phạm Văn Khó", national_id="001185000011")).person_id
    dose(ledger, refused, "K1")
    other = ledger.register_person(lan(national_id="001185000012")).person_id
    dose(ledger, other, "K2")
    projection = Certificates(view=construct_view(ledger, Certificates))
    refused_id: list[str] = []

    def sign(certified, certificate_id, key, now):
        if certified.person_id == str(refused):
            refused_id.append(certificate_id)
            raise ValueError(f"full_name: {certified.full_name} cannot be carried")
        return counting(certified, certificate_id, key, now)

    projection.issuer = Issuer(ledger, sign)
    page = ledger.recorder.select_notifications(start=1, limit=100)
    with caplog.at_level("ERROR", logger="issuance"):
        projection.process_notifications(page, ledger.mapper, after=None)
    signed = projection.view.certificate(other)["certificate_id"]
    unsigned = projection.view.certificate(refused)["certificate_id"]
    assert refused_id == [unsigned] and counting.calls == [signed]
    assert issuance(ledger, signed) is not None and issuance(ledger, unsigned) is None
    assert unsigned in caplog.text and "Khó" not in caplog.text and "KHO" not in caplog.text


def test_certificates_issue_revokes_what_was_issued_and_is_no_longer_current(ledger, store_url):
    """A version signed by `certificates issue`, then superseded while no issuer followed: the
    next `certificates issue`, keys or not, revokes it with the reason and successor the view
    recorded, and signs nothing without keys."""
    from projections.certificates import Certificates
    from projections.engine.stores import construct_view

    counting = CountingSign()
    projection = Certificates(view=construct_view(ledger, Certificates))  # no issuer
    pid = ledger.register_person(lan()).person_id
    receipt = dose(ledger, pid, "R1")
    page = ledger.recorder.select_notifications(start=1, limit=100)
    after = projection.process_notifications(page, ledger.mapper, after=None)
    first = projection.view.certificate(pid)["certificate_id"]
    assert issue_missing(store_url, counting) == 1 and counting.calls == [first]
    ledger.amend_dose(receipt.dose_id, {"lot": "FA9999"}, "lot mistyped")
    page = ledger.recorder.select_notifications(start=after + 1, limit=100)
    projection.process_notifications(page, ledger.mapper, after=after)
    second = projection.view.certificate(pid)["certificate_id"]
    assert second != first and issuance(ledger, first).revoked is None  # nobody revoked it
    assert issue_missing(store_url, None) is None  # no keys: nothing signed ...
    revoked = issuance(ledger, first)
    assert (revoked.revoked, revoked.successor) == ("amended", second)  # ... but revoked
    assert issuance(ledger, second) is None and counting.calls == [first]
    assert issue_missing(store_url, counting) == 1 and counting.calls == [first, second]
    assert [type(e).__name__ for e in ledger.events.get(UUID(first))] == ["Issued", "Revoked"]
