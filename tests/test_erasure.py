"""Crypto-shredding: a person's personal fields are sealed with a key of their own; erasure
destroys the key. The events stay, the chain verifies, the counts stay; nothing shows the
person's name, national id, phone or address any more: not a view, not replay, not a log line,
not the database's own bytes."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import threading
import time
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import pytest

from ledger.errors import PersonAlreadyErased, PersonErased, PersonNotFound
from ledger.values import Actor
from projections.reconcile import reconcile
from projections.running import rebuild
from replay.history import history, state_as_of
from replay.verify import verify, verify_all
from store.data_keys import KEY_TABLE, DataKeyMissing
from tests.readside import ageless, assert_views_are_a_fresh_fold, caught_up, everything, in_band
from tests.stored_rows import StoredRows
from tests.test_ledger import dose, lan
from usecases.application import DoseLedger

ADMIN = Actor("admin-1", "admin")
PORTAL = Actor("portal", "portal")
# What a registration of lan() holds that is someone's, as it would sit in stored bytes.
PERSONAL = ("Nguyễn Thị Lan", "001185012345", "0912345678", "12 Phố Huế")
CONTACT = "0987000111"
CLAIM_NAME = "Nguyễn Thị Lan Anh"


def stored_bytes(ledger: DoseLedger) -> bytes:
    return b"\n".join(bytes(n.state) for n in ledger.recorder.select_notifications(start=1, limit=100_000))


def assert_none_in(text: str | bytes, what: tuple[str, ...] = (*PERSONAL, CONTACT, CLAIM_NAME)) -> None:
    raw = text if isinstance(text, bytes) else text.encode()
    found = [w for w in what if w.encode() in raw]
    assert not found, f"found {found}"


def a_person_with_a_history(ledger: DoseLedger):
    """lan(): two doses, a corrected phone... and a correction request with a contact and a claim."""
    pid = ledger.register_person(lan(), actor=ADMIN).person_id
    dose(ledger, pid, "R1", administered_at="2021-08-01")
    dose(ledger, pid, "R2", administered_at="2021-09-01", site_id="HCM-001")
    ledger.correct_details(pid, {"address": "12 Phố Huế, Hà Nội", "district": "Hoàn Kiếm"}, "moved")
    ledger.request_correction(
        pid,
        "missing_dose",
        {"vaccine": "Pfizer", "administered_at": "2021-10-01", "site_id": "HN-077"},
        contact=CONTACT,
        filed_at="2026-01-01",
        actor=PORTAL,
    )
    ledger.request_correction(
        pid, "wrong_details", {"changes": {"full_name": CLAIM_NAME}}, filed_at="2026-01-02", actor=PORTAL
    )
    return pid


def test_personal_fields_are_sealed_in_the_store_and_open_through_the_ledger(ledger):
    pid = a_person_with_a_history(ledger)
    assert_none_in(stored_bytes(ledger), (*PERSONAL, "1985-03-14", CONTACT, CLAIM_NAME))
    fresh = DoseLedger(env={"DOSELEDGER_DATABASE_URL": ledger.env["DOSELEDGER_DATABASE_URL"]})
    try:
        person = fresh.person(pid)  # from the stored events: another process, no cache
        assert person.details == {
            **lan(),
            "address": "12 Phố Huế, Hà Nội",
            "district": "Hoàn Kiếm",
        }
        claims = sorted((c["kind"], c["claim"]) for c in person.corrections.values())
        assert claims[1] == ("wrong_details", {"changes": {"full_name": CLAIM_NAME}})
        assert verify(fresh, pid)["consistent"]
    finally:
        fresh.close()
    # Province, district and sex stay clear: the statistics count by them.
    assert b'"province":"01"' in stored_bytes(ledger)


def test_an_erasure_leaves_no_personal_data_in_views_replay_logs_or_the_database(
    ledger, projector, views, store_url, caplog
):
    caplog.set_level(logging.DEBUG)
    pid = a_person_with_a_history(ledger)
    other = ledger.register_person(
        lan(full_name="Trần Văn Minh", national_id="001190000001", phone="0900000002", address="1 Hàng Bạc")
    ).person_id
    dose(ledger, other, "M1")
    caught_up(views, ledger)
    before = everything(views)

    written = ledger.erase_person(pid, "the citizen's request", actor=ADMIN)
    assert written.aggregate_id == pid
    caught_up(views, ledger)

    certificate = views.certificates.certificate(pid)
    assert certificate["erased"] is True
    assert certificate["status"] == before_certificate_status(before, pid)
    assert views.localities.find(phone="0912345678") == []
    assert [r["person_id"] for r in views.localities.find(phone="0900000002")] == [str(other)]
    assert views.localities.find(national_id="001185012345") == []
    listed = {r["person_id"]: r for r in views.localities.people("01", limit=100)}
    assert listed[str(pid)]["full_name"] == "[erased]"
    assert views.review.possible_duplicates() == []  # the same name and birth date, but erased
    requests = [r for r in views.corrections.every() if r["person_id"] == str(pid)]
    assert {(r["claim"], r["contact"]) for r in requests} == {(None, None)}
    assert {r["site_id"] for r in requests} == {"HN-077", None}  # the claimed site is kept
    after = everything(views)
    assert_none_in(repr(after))
    for counts in ("coverage", "site_counts", "corrections_summary"):
        assert after[counts] == before[counts], counts
    # Every dose counts where it did; its age band came from the birth date, now unknown.
    assert ageless(after["doses"]) == ageless(before["doses"])
    erased_doses = len(next(c for c in before["certificates"] if c["person_id"] == str(pid))["doses"])
    assert in_band(after["doses"], "unknown") == in_band(before["doses"], "unknown") + erased_doses > 0

    audit = json.dumps([history(ledger, pid), state_as_of(ledger, pid)], ensure_ascii=False, default=str)
    assert_none_in(audit)
    assert '"personal_data": "erased"' in audit
    assert verify(ledger, pid, views)["consistent"]
    assert verify_all(ledger, views)["consistent"]
    assert reconcile(views).differences == []
    assert_views_are_a_fresh_fold(views, ledger)

    projector.stop()  # a rebuild runs alone
    rebuild(store_url, "all", progress=False)  # reads the sealed fields as erased
    rebuilt = everything(views)
    assert rebuilt == after
    assert_views_are_a_fresh_fold(views, ledger)
    assert reconcile(views).differences == []
    assert_none_in(caplog.text)
    assert_none_in(database_bytes(store_url))


def before_certificate_status(before, pid) -> str:
    return next(c["status"] for c in before["certificates"] if c["person_id"] == str(pid))


def database_bytes(store_url: str) -> bytes:
    """Everything the database holds: PostgreSQL's dump of the test's schema; SQLite's file,
    after a checkpoint (the WAL written back and emptied)."""
    parts = urlsplit(store_url)
    if parts.scheme == "sqlite":
        path = parts.path[1:]
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with open(path, "rb") as f:
            return f.read()
    schema = parse_qs(parts.query)["schema"][0]
    dump = subprocess.run(
        ["pg_dump", f"--schema={schema}", store_url.split("?", 1)[0]], capture_output=True, check=True
    )
    assert f"CREATE TABLE {schema}.person_data_keys".encode() in dump.stdout  # the dump is the schema's
    return dump.stdout


def test_an_erased_person_refuses_further_commands_and_a_second_erasure(ledger):
    pid = ledger.register_person(lan()).person_id
    ledger.erase_person(pid, "asked")
    head = ledger.head()
    with pytest.raises(PersonAlreadyErased) as second:
        ledger.erase_person(pid, "asked again")
    assert second.value.field == "person_id"
    with pytest.raises(PersonErased):
        dose(ledger, pid, "R1")
    with pytest.raises(PersonErased):
        ledger.correct_details(pid, {"phone": "0900000000"}, "new phone")
    assert ledger.head() == head  # nothing written
    # The national id is free again: the same number registers a new person.
    again = ledger.register_person(lan())
    assert again.created and again.person_id != pid


def test_erasing_an_unknown_person_or_without_a_reason_writes_nothing(ledger):
    pid = ledger.register_person(lan()).person_id
    head = ledger.head()
    with pytest.raises(PersonNotFound) as unknown:
        ledger.erase_person(uuid4(), "asked")
    assert unknown.value.field == "person_id"
    with pytest.raises(Exception) as no_reason:
        ledger.erase_person(pid, "  ")
    assert getattr(no_reason.value, "field", None) == "reason"
    assert ledger.head() == head
    assert ledger.data_keys.holds(pid)


def delete_key_behind_the_ledgers_back(store_url: str, person_id) -> None:
    parts = urlsplit(store_url)
    if parts.scheme == "sqlite":
        with sqlite3.connect(parts.path[1:]) as conn:
            conn.execute(f"DELETE FROM {KEY_TABLE} WHERE person_id = ?", (person_id.hex,))
    else:
        import psycopg

        schema = parse_qs(parts.query)["schema"][0]
        with psycopg.connect(store_url.split("?", 1)[0], autocommit=True) as conn:
            conn.execute(f'DELETE FROM "{schema}".{KEY_TABLE} WHERE person_id = %s', (person_id,))


def test_a_key_missing_for_a_person_not_erased_is_an_error_naming_the_person_only(ledger, store_url):
    pid = ledger.register_person(lan()).person_id
    delete_key_behind_the_ledgers_back(store_url, pid)
    fresh = DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url})
    try:
        with pytest.raises(DataKeyMissing) as missing:
            fresh.person(pid)
        assert str(pid) in str(missing.value)
        assert_none_in(str(missing.value))
        head = fresh.head()
        with pytest.raises(DataKeyMissing):
            dose(fresh, pid, "R1")  # nothing is decided on a person who cannot be read
        assert fresh.head() == head
        # An audit shows the row as unreadable, never as erased.
        assert not verify_all(fresh)["consistent"]
    finally:
        fresh.close()


def test_an_erasure_interrupted_before_the_key_went_is_finished_by_the_next_or_by_reconcile(
    ledger, monkeypatch
):
    first, second = (
        ledger.register_person(lan(national_id=n)).person_id for n in ("001185000001", "001185000002")
    )
    real_destroy = ledger.data_keys.destroy

    def dies(person_id):
        raise SystemExit("the process died between the save and the key's destruction")

    monkeypatch.setattr(ledger.data_keys, "destroy", dies)
    for pid in (first, second):
        with pytest.raises(SystemExit):
            ledger.erase_person(pid, "asked")
    monkeypatch.setattr(ledger.data_keys, "destroy", real_destroy)
    assert ledger.data_keys.holds(first) and ledger.data_keys.holds(second)

    with pytest.raises(PersonAlreadyErased):
        ledger.erase_person(first, "asked again")
    assert not ledger.data_keys.holds(first)
    assert ledger.finish_erasures() == [second]  # what `doseledger reconcile` runs first
    assert not ledger.data_keys.holds(second)
    assert ledger.finish_erasures() == []


def test_a_restored_key_table_has_its_erasures_reapplied(ledger):
    """A backup of the keys taken before an erasure, restored: the erased person's key is back
    until the erasures are re-applied from the ledger's Erased events."""
    pid = ledger.register_person(lan()).person_id
    keys = ledger.data_keys
    with keys.datastore.transaction(commit=False) as curs:
        curs.execute(keys._select, (keys._id(pid),))
        backup = bytes(curs.fetchone()["wrapped"])
    ledger.erase_person(pid, "asked")
    with keys.datastore.transaction(commit=True) as curs:  # the restore, of the whole table
        curs.execute(f"DELETE FROM {keys._erasures}")
        curs.execute(keys._insert, (keys._id(pid), backup, keys._now(), keys._id(pid)))
    assert keys.holds(pid)
    assert ledger.finish_erasures() == [pid]
    assert not keys.holds(pid)
    fresh = DoseLedger(env={"DOSELEDGER_DATABASE_URL": ledger.env["DOSELEDGER_DATABASE_URL"]})
    try:  # read as erased again, not as a lost key
        assert history(fresh, pid)["events"][0]["personal_data"] == "erased"
    finally:
        fresh.close()


def test_no_key_is_made_again_for_an_erased_person(ledger):
    """A writer that loaded the person before the erasure saves after it: its save fails on the
    stream's version, but the key it would seal with must not come back meanwhile."""
    pid = ledger.register_person(lan()).person_id
    ledger.erase_person(pid, "asked")
    other = DoseLedger(env={"DOSELEDGER_DATABASE_URL": ledger.env["DOSELEDGER_DATABASE_URL"]})
    try:
        other.data_keys.prepare([pid], create=True)
        assert other.data_keys.key(pid, create=True) is None
        assert not ledger.data_keys.holds(pid)
        assert history(other, pid)["events"][0]["personal_data"] == "erased"
    finally:
        other.close()


def test_once_erase_returns_another_process_stops_opening_the_fields_within_a_second(ledger, store_url):
    pid = ledger.register_person(lan()).person_id
    other = DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url})
    try:

        def registration():
            [record] = [r for r in other.recorder.select_streams([pid]) if r.originator_version == 1]
            return other.mapper.to_domain_event(record)

        assert registration().full_name == "Nguyễn Thị Lan"  # its key is cached now
        ledger.erase_person(pid, "asked")
        time.sleep(1.1)
        erased = registration()
        assert (erased.full_name, erased.national_id, erased.personal_data) == (None, None, "erased")
    finally:
        other.close()


def test_events_stored_before_sealing_read_as_before_and_an_erasure_masks_but_cannot_shred_them(
    ledger, store_url, views, monkeypatch
):
    """Events written as the code before sealing wrote them: fields in clear, chained whole (no
    salt, no personal_digest: null here, as the event classes now name them)."""
    with monkeypatch.context() as before:
        before.setattr(
            "ledger.chain.personal_part",
            lambda event_class, data: (
                dict.fromkeys(("salt", "personal_digest")) if event_class.personal_paths else {}
            ),
        )
        before.setattr(ledger.mapper, "sealing", False)
        pid = ledger.register_person(lan()).person_id
        dose(ledger, pid, "R1")
    registered = ledger.recorder.select_streams([pid])[0]
    assert "Nguyễn Thị Lan".encode() in registered.state
    assert b'"personal_digest":null' in registered.state and b"sealed" not in registered.state
    fresh = DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url})
    try:
        assert fresh.person(pid).details == lan()
        assert verify_all(fresh)["consistent"]
        fresh.erase_person(pid, "asked")
        caught_up(views, fresh)
        assert views.certificates.certificate(pid)["erased"] is True
        assert views.localities.find(phone="0912345678") == []
        assert verify_all(fresh, views)["consistent"]
        # What the erasure cannot do: the old event still holds the name (docs/ARCHITECTURE.md).
        assert "Nguyễn".encode() in fresh.recorder.select_streams([pid])[0].state
    finally:
        fresh.close()


def test_erasing_a_person_erases_the_duplicates_merged_into_them(ledger, views):
    survivor = ledger.register_person(lan()).person_id
    duplicate = ledger.register_person(
        lan(national_id="001185000009", full_name="Nguyen Thi Lan", address="12 Pho Hue")
    ).person_id
    dose(ledger, duplicate, "D1")
    ledger.merge_persons(survivor, duplicate, "registered twice", actor=ADMIN)
    caught_up(views, ledger)
    before = everything(views)

    ledger.erase_person(survivor, "the citizen's request", actor=ADMIN)
    caught_up(views, ledger)
    assert ledger.person(duplicate).erased and ledger.person(survivor).erased
    assert not ledger.data_keys.holds(duplicate) and not ledger.data_keys.holds(survivor)
    audit = repr([history(ledger, pid) for pid in (survivor, duplicate)])
    after = everything(views)
    assert_none_in(audit + repr(after), (*PERSONAL, "Nguyen Thi Lan", "12 Pho Hue", "001185000009"))
    assert ageless(after["doses"]) == ageless(before["doses"]) and after["coverage"] == before["coverage"]
    assert in_band(after["doses"], "unknown") == sum(after["doses"].values())
    assert verify_all(ledger, views)["consistent"]
    assert ledger.register_person(lan(national_id="001185000009")).created  # released too


def test_sealed_fields_resealed_with_other_values_break_their_personal_digest(ledger, store_url):
    """Someone with the data key (and the secrets) rewrites a registration's name: the chain
    over the clear fields still holds, the personal digest does not."""
    pid = ledger.register_person(lan()).person_id
    record = ledger.recorder.select_streams([pid])[0]
    forged = ledger.mapper.to_domain_event(record)
    vars(forged)["full_name"] = "Kẻ Giả Mạo"
    rows = StoredRows(store_url)
    try:
        rows.put_state(pid, 1, ledger.mapper.to_stored_event(forged).state)
    finally:
        rows.close()
    fresh = DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url})
    try:
        report = verify(fresh, pid)
    finally:
        fresh.close()
    assert not report["consistent"]
    assert [(d["version"], d["finding"]) for d in report["differences"]] == [(1, "altered")]
    assert "personal_digest" in report["differences"][0]["detail"]


def test_a_key_staged_for_a_save_is_seen_by_no_other_thread_and_a_failed_save_leaves_none(ledger):
    """Two requests registering the same person at once (a client's retry) each stage a key; the
    loser's must never open the winner's events, from any thread (found under load with faults)."""
    keys, pid = ledger.data_keys, uuid4()
    keys.stage_new([pid])
    assert keys.key(pid) is not None  # the saving thread seals with it
    elsewhere: list[BaseException] = []
    other = threading.Thread(target=lambda: elsewhere.extend(_refusal(lambda: keys.key(pid))))
    other.start()
    other.join(timeout=30)
    assert [type(e) for e in elsewhere] == [DataKeyMissing]  # not stored, not shared
    keys.unstage(failed=True)
    with pytest.raises(DataKeyMissing):
        keys.key(pid)


def test_a_committed_key_is_the_one_every_thread_opens_with(ledger):
    pid = ledger.register_person(lan()).person_id
    stored = ledger.data_keys.key(pid)
    opened: list[bytes | None] = []
    other = threading.Thread(target=lambda: opened.append(ledger.data_keys.key(pid)))
    other.start()
    other.join(timeout=30)
    assert opened == [stored] and ledger.person(pid).details["full_name"] == lan()["full_name"]


def _refusal(call) -> list[BaseException]:
    try:
        call()
    except DataKeyMissing as refused:
        return [refused]
    return []
