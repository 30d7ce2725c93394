"""Ids made from personal data are keyed with the deployment's secret, and a store checks it.

Each story runs on SQLite and on PostgreSQL (the `store_url` fixture). The store made "the old
way" is written by the real use cases with the old derivation put in place of the keyed one:
a uuid5 of the personal data under a public namespace, copied here and nowhere else.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from uuid import NAMESPACE_URL, UUID, uuid5

import pytest

from cli.main import main
from ledger.keys import KEYED_IDS_ID, IdentityKey, IdKey, KeyedIds, NationalIdClaim, _fingerprint
from ledger.names import clean
from store.secrets import MissingSecret, Secrets
from tests.test_ledger import SITE, lan
from usecases.application import DoseLedger
from usecases.keyed_ids import ForeignIdsSecret, UnkeyedStore

OLD_NAMESPACE = uuid5(NAMESPACE_URL, "https://doseledger.example/ids")


class OldWay:
    """The derivation before keyed ids: anyone can recompute it from the personal data."""

    def person_of_record(self, site_id: str, site_record_id: str) -> UUID:
        return uuid5(OLD_NAMESPACE, f"person-of/{site_id}/{site_record_id}")

    def national_id(self, national_id: str) -> UUID:
        return uuid5(OLD_NAMESPACE, f"national-id/{national_id}")

    def identity(self, full_name: str, birth_date: str, phone: str | None) -> UUID:
        return uuid5(OLD_NAMESPACE, f"identity/{clean(full_name).casefold()}|{birth_date}|{phone or ''}")

    def site_record_digest(self, digest: str) -> str:
        return digest  # kept plain, as before keyed digests (keyed at the next start)


OLD = OldWay()
MINH = lan(full_name="Trần Văn Minh", national_id="001190000001", birth_date="1990-01-01", sex="male")
HOA = lan(full_name="Lê Thị Hoa", national_id=None)


def inline(record: str, person: dict, **overrides):
    fields = dict(
        site_id="HN-001",
        site_record_id=record,
        vaccine="EU/1/20/1528",
        administered_at="2021-08-01",
        person=person,
    )
    return {**fields, **overrides}


def with_the_chain_key(folder: Path) -> Path:
    """A secrets folder holding the run's chain and data secrets: these tests are about the ids
    secret. (The chain's is one per process, tests/security/test_anchored_chain.py tests its
    refusals; tests/test_erasure.py the data key's.)"""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("chain", "data"):
        if not (folder / f"{name}.key").exists():
            run = Secrets.from_env()
            run.key(name, create=True)  # the run's own folder: made by whichever test needs it first
            shutil.copy(run.path(name), folder / f"{name}.key")
    return folder


def opened(store_url: str, secrets: Path, **kwargs) -> DoseLedger:
    with_the_chain_key(secrets)
    return DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url}, secrets=Secrets(secrets), **kwargs)


def stored_ids(ledger: DoseLedger) -> set[UUID]:
    """The ids of every stream, and the keys of every national id's row (store.person_keys)."""
    streams = {n.originator_id for n in ledger.recorder.select_notifications(start=1, limit=10_000)}
    keys = [*ledger.recorder.national_ids.every(), *ledger.recorder.identities.every()]
    return streams | {row.key for row in keys}


def claim_the_old_way(ledger: DoseLedger, people: dict[str, str], listed: dict[UUID, str]) -> None:
    """The national ids' claims and the identity keys as the code before the key tables stored
    them: as events."""
    ledger.save(
        *(NationalIdClaim.claim(OLD.national_id(nid), UUID(p)) for nid, p in people.items()),
        *(IdentityKey.claim(key, UUID(p)) for key, p in listed.items()),
    )


def everything_stored(ledger: DoseLedger) -> list[tuple[UUID, int, str]]:
    found = ledger.recorder.select_notifications(start=1, limit=10_000)
    return [(n.originator_id, n.originator_version, n.topic) for n in found]


def write_the_old_way(store_url: str, secrets: Path) -> dict[str, UUID]:
    """A store as the code before keyed ids made it: keys at uuid5 ids, no fingerprint."""
    ledger = opened(store_url, secrets)
    ledger.decisions.ids.key = OLD  # the old derivation, duck-typed
    ledger.decisions.ids.recorded = True  # the old code recorded no fingerprint
    try:
        lan_id = ledger.register_person(lan(), actor=SITE).person_id
        minh = ledger.record_dose(**inline("R9", MINH), actor=SITE).person_id
        hoa = ledger.record_doses([inline("R3", HOA)], actor=SITE, match_identity=True)[0].receipt
        assert hoa is not None
        claim_the_old_way(
            ledger,
            {lan()["national_id"]: str(lan_id), MINH["national_id"]: str(minh)},
            {
                OLD.identity(*identity_of(p)): str(i)
                for p, i in ((lan(), lan_id), (MINH, minh), (HOA, hoa.person_id))
            },
        )
        assert recorded_fingerprint_of(ledger) is None
        assert OLD.national_id(lan()["national_id"]) in stored_ids(ledger)
        return {"lan": lan_id, "minh": minh, "hoa": hoa.person_id}
    finally:
        ledger.close()


def recorded_fingerprint_of(ledger: DoseLedger) -> str | None:
    found = list(ledger.events.get(KEYED_IDS_ID))
    return found[-1].fingerprint if found else None


# --- the derivation ----------------------------------------------------------------------


def test_two_secrets_give_other_ids_and_one_secret_the_same_ids():
    a, b = IdKey(b"a" * 32), IdKey(b"b" * 32)
    for derive in (
        lambda k: k.national_id("001185012345"),
        lambda k: k.identity("Nguyễn Thị Lan", "1985-03-14", "0912345678"),
        lambda k: k.person_of_record("HN-001", "R1"),
    ):
        assert derive(a) != derive(b)
        assert derive(a) == derive(IdKey(b"a" * 32))
        assert derive(a).version == 8 and derive(a).variant == "specified in RFC 4122"
    assert a.fingerprint != b.fingerprint and len(a.fingerprint) == 64
    assert "a" * 8 not in repr(a) and "fingerprint" in repr(a)  # never the secret in a log
    # Keys that differ only in the field they come from never share an id.
    assert len({a.national_id("x"), a.person_of_record("x", ""), a.identity("x", "", None)}) == 3


def test_an_identity_key_folds_the_name_as_before():
    key = IdKey(b"k" * 32)
    assert key.identity("  NGUYỄN  thị lan ", "1985-03-14", "0912345678") == key.identity(
        "Nguyễn Thị Lan", "1985-03-14", "0912345678"
    )
    assert key.identity("Nguyen Thi Lan", "1985-03-14", None) != key.identity(
        "Nguyễn Thị Lan", "1985-03-14", None
    )


def test_a_short_secret_is_refused():
    with pytest.raises(ValueError, match="shorter than 16 bytes"):
        IdKey(b"short")


# --- what a store holds ------------------------------------------------------------------


def test_no_stored_id_is_the_old_uuid5_of_personal_data(store_url, tmp_path):
    with opened(store_url, tmp_path / "secrets") as ledger:
        lan_id = ledger.register_person(lan(), actor=SITE).person_id
        minh = ledger.record_dose(**inline("R9", MINH), actor=SITE).person_id
        ledger.record_doses([inline("R3", HOA)], actor=SITE, match_identity=True)
        ledger.correct_details(lan_id, {"national_id": "001185099999"}, "new card")
        stored = stored_ids(ledger)
        old = {
            OLD.national_id(lan()["national_id"]),
            OLD.national_id("001185099999"),
            OLD.national_id(MINH["national_id"]),
            OLD.person_of_record("HN-001", "R9"),
            OLD.person_of_record("HN-001", "R3"),
            *(OLD.identity(p["full_name"], p["birth_date"], p["phone"]) for p in (lan(), MINH, HOA)),
        }
        assert not stored & old
        keyed = {
            ledger.ids.national_id(lan()["national_id"]),
            ledger.ids.national_id("001185099999"),
            ledger.ids.national_id(MINH["national_id"]),
            ledger.ids.person_of_record("HN-001", "R9"),
            *(ledger.ids.identity(p["full_name"], p["birth_date"], p["phone"]) for p in (lan(), MINH, HOA)),
        }
        assert keyed <= stored  # the keys are where the keyed ids say, nowhere else
        assert minh == ledger.ids.person_of_record("HN-001", "R9")
        held = ledger.recorder.national_ids.latest([ledger.ids.national_id(MINH["national_id"])])
        assert [row.person_id for row in held.values()] == [minh]  # a row, not a stream
        assert not any(t.startswith("ledger.keys:NationalIdClaim") for *_, t in everything_stored(ledger))


def test_two_stores_with_two_secrets_name_the_same_person_otherwise(store_url, another_store_url, tmp_path):
    with opened(store_url, tmp_path / "one") as one:
        with opened(another_store_url, tmp_path / "two") as two:
            one.record_dose(**inline("R9", MINH), actor=SITE)
            two.record_dose(**inline("R9", MINH), actor=SITE)
            assert one.ids.national_id(MINH["national_id"]) != two.ids.national_id(MINH["national_id"])
            assert not {i for i, *_ in everything_stored(one)} & {
                two.ids.national_id(MINH["national_id"]),
                two.ids.person_of_record("HN-001", "R9"),
            }


def test_the_fingerprint_is_stored_with_the_first_key_and_only_then(store_url, tmp_path):
    secrets = tmp_path / "secrets"
    with opened(store_url, secrets) as ledger:
        assert ledger.head() == 0  # a start writes nothing
        assert (secrets / "ids.key").exists()  # a new store: its secret is made
        ledger.register_site("HN-100", name="Trạm Y tế", kind="official", province="01")
        assert recorded_fingerprint_of(ledger) is None  # a site is no one's personal data
        first = ledger.register_person(lan(), actor=SITE)
        position = first.position
        stored = everything_stored(ledger)
        assert stored[1] == (KEYED_IDS_ID, 1, "ledger.keys:KeyedIds.Adopted")  # first in the save
        assert recorded_fingerprint_of(ledger) == ledger.ids.fingerprint
        assert ledger.ids.fingerprint == _fingerprint(Secrets(secrets).key("ids"))
        assert position == ledger.head()
        ledger.register_person(MINH, actor=SITE)
        assert [t for *_, t in everything_stored(ledger)].count("ledger.keys:KeyedIds.Adopted") == 1
    with opened(store_url, secrets) as again:  # the same secret: it starts
        found = again.register_person(lan(), actor=SITE)
        assert (found.person_id, found.created) == (first.person_id, False)


# --- refusals ----------------------------------------------------------------------------


def test_another_secret_is_refused_naming_its_folder_and_nothing_is_written(store_url, tmp_path):
    with opened(store_url, tmp_path / "first") as ledger:
        ledger.register_person(lan(), actor=SITE)
        before = everything_stored(ledger)
    Secrets(tmp_path / "second").key("ids", create=True)
    with pytest.raises(ForeignIdsSecret) as refused:
        opened(store_url, tmp_path / "second")
    message = str(refused.value)
    assert str(tmp_path / "second") in message and "restore it" in message
    assert lan()["national_id"] not in message and lan()["full_name"] not in message
    with opened(store_url, tmp_path / "first") as ledger:
        assert everything_stored(ledger) == before


def test_a_missing_secret_is_refused_naming_the_file_and_none_is_made(store_url, tmp_path):
    with opened(store_url, tmp_path / "kept") as ledger:
        ledger.register_person(lan(), actor=SITE)
        before = everything_stored(ledger)
    with pytest.raises(MissingSecret) as refused:
        opened(store_url, tmp_path / "lost")
    assert refused.value.path == tmp_path / "lost" / "ids.key"
    assert "ids.key" in str(refused.value)
    assert not (tmp_path / "lost" / "ids.key").exists()
    with opened(store_url, tmp_path / "kept") as ledger:
        assert everything_stored(ledger) == before


def test_a_second_process_with_another_secret_on_a_new_store_is_refused_at_its_first_key(store_url, tmp_path):
    first = opened(store_url, tmp_path / "first")
    second = opened(store_url, tmp_path / "second")  # both started before any key was stored
    try:
        first.register_person(lan(), actor=SITE)
        before = everything_stored(first)
        with pytest.raises(ForeignIdsSecret):
            second.register_person(MINH, actor=SITE)
        with pytest.raises(ForeignIdsSecret):
            second.record_doses([inline("R3", HOA)], actor=SITE)
        assert everything_stored(first) == before
    finally:
        first.close()
        second.close()


def test_a_second_process_with_another_secret_is_refused_at_its_first_dose_for_a_known_person(
    store_url, tmp_path
):
    """A site-record row's content digest is keyed under the ids secret: a dose stored under
    another secret would make the site's retry of the same report a conflict, for good."""
    first = opened(store_url, tmp_path / "first")
    second = opened(store_url, tmp_path / "second")  # both started before any key was stored
    try:
        person = first.register_person(lan(), actor=SITE).person_id
        before = everything_stored(first)
        report = dict(
            site_id="HN-001", site_record_id="R1", vaccine="EU/1/20/1528", administered_at="2021-08-01"
        )
        with pytest.raises(ForeignIdsSecret):
            second.record_dose(**report, person_id=person, actor=SITE)
        assert everything_stored(first) == before
        assert first.record_dose(**report, person_id=person, actor=SITE).duplicate is False
        assert first.record_dose(**report, person_id=person, actor=SITE).duplicate is True
    finally:
        first.close()
        second.close()


def test_a_store_with_keys_made_the_old_way_is_refused_until_rekeyed(store_url, tmp_path):
    write_the_old_way(store_url, tmp_path / "old")
    for secrets in ("old", "new"):  # with the secret a start made then, or none
        with pytest.raises(UnkeyedStore, match="doseledger rekey"):
            opened(store_url, tmp_path / secrets)
    assert not (tmp_path / "new" / "ids.key").exists()  # refused before making a secret
    with opened(store_url, tmp_path / "old", unkeyed_ok=True) as ledger:
        assert recorded_fingerprint_of(ledger) is None  # nothing written by the refusals


# --- rekey -------------------------------------------------------------------------------


def test_rekey_finds_the_same_people_and_a_second_run_appends_nothing(
    store_url, tmp_path, monkeypatch, capsys
):
    people = write_the_old_way(store_url, tmp_path / "old")
    monkeypatch.setenv("DOSELEDGER_DATABASE_URL", store_url)
    # no ids secret there yet: rekey makes it
    monkeypatch.setenv("DOSELEDGER_SECRETS_DIR", str(with_the_chain_key(tmp_path / "new")))
    with opened(store_url, tmp_path / "old", unkeyed_ok=True) as ledger:
        old_store = everything_stored(ledger)
    assert main(["token", "create", "--role", "admin"]) == 2  # any command is refused, in one line
    refused = capsys.readouterr()
    assert "doseledger rekey" in refused.err and "Traceback" not in refused.err and not refused.out

    assert main(["rekey"]) == 0
    out = capsys.readouterr().out
    assert "rekeyed 3 people: 6 keys appended" in out and lan()["national_id"] not in out
    with opened(store_url, tmp_path / "new") as ledger:
        after_first = everything_stored(ledger)
        assert after_first[: len(old_store)] == old_store  # appended only
        appended = after_first[len(old_store) :]
        # The fingerprint only: the two national ids' claims and the three identity keys (one
        # each) are rows of their tables (store.person_keys), naming the same people.
        assert appended == [(KEYED_IDS_ID, 1, "ledger.keys:KeyedIds.Adopted")]
        listed = [ledger.ids.identity(*identity_of(p)) for p in (lan(), MINH, HOA)]
        ws = ledger.decisions.working_set()
        assert [ws.identity_members(k) for k in listed] == [
            [people["lan"]],
            [people["minh"]],
            [people["hoa"]],
        ]
        keyed = [ledger.ids.national_id(lan()["national_id"]), ledger.ids.national_id(MINH["national_id"])]
        held = ledger.recorder.national_ids.latest(keyed)
        assert [(held[k].seq, held[k].person_id, held[k].reason) for k in keyed] == [
            (1, people["lan"], "rekeyed"),
            (1, people["minh"], "rekeyed"),
        ]
        assert appended[-1] == (KEYED_IDS_ID, 1, "ledger.keys:KeyedIds.Adopted")
        assert recorded_fingerprint_of(ledger) == ledger.ids.fingerprint

    assert main(["rekey"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    with opened(store_url, tmp_path / "new") as ledger:
        assert everything_stored(ledger) == after_first  # idempotent
        # The same national id finds the same person, by registration and by a dose's inline person.
        again = ledger.register_person(lan(), actor=SITE)
        assert again.person_id == people["lan"] and not again.created
        assert ledger.record_dose(**inline("R10", MINH), actor=SITE).person_id == people["minh"]
        # Without a national id, a retro import still matches on name, birth date and phone.
        matched = ledger.record_doses([inline("R4", HOA)], actor=SITE, match_identity=True)[0].receipt
        assert matched is not None and matched.person_id == people["hoa"]
        assert ledger.person(people["lan"]).details["national_id"] == lan()["national_id"]
        # Only keyed key streams were added: none at an old id, every new one keyed.
        new = {i for i, *_ in everything_stored(ledger)} - {i for i, *_ in after_first}
        assert not new & {OLD.national_id(lan()["national_id"]), OLD.identity(*lan_identity())}
    with pytest.raises(ForeignIdsSecret):
        opened(store_url, tmp_path / "old")  # the secret of a start before the rekey is not it


def lan_identity() -> tuple[str, str, str]:
    return identity_of(lan())


def identity_of(person: dict) -> tuple[str, str, str]:
    return person["full_name"], person["birth_date"], person["phone"]


def test_rekey_keeps_merges_and_corrections_as_they_stand(store_url, tmp_path):
    old = opened(store_url, tmp_path / "old")
    old.decisions.ids.key = OLD  # the old derivation, duck-typed
    old.decisions.ids.recorded = True
    try:
        kept = old.register_person(lan(), actor=SITE).person_id
        twin = old.register_person(lan(national_id="001185000002"), actor=SITE).person_id
        old.merge_persons(kept, twin, "registered twice")
        old.correct_details(kept, {"national_id": "001185099999"}, "new card")
    finally:
        old.close()
    from usecases.rekey import rekey

    with opened(store_url, tmp_path / "new", unkeyed_ok=True) as ledger:
        done = rekey(ledger, batch=1)
        assert (done.people, done.national_id_claims, done.identity_keys, done.identity_joins) == (2, 2, 1, 1)
        assert done.fingerprint_recorded
        assert rekey(ledger).appended == 0
    with opened(store_url, tmp_path / "new") as ledger:
        # The merged twin's national id leads to the survivor; the corrected one too; the
        # released one is no one's: registering it makes a new person.
        assert ledger.register_person(lan(national_id="001185000002")).person_id == kept
        assert ledger.register_person(lan(national_id="001185099999")).person_id == kept
        fresh = ledger.register_person(lan(), actor=SITE)
        assert fresh.created and fresh.person_id not in (kept, twin)
        listed = ledger.decisions.working_set().identity_members(ledger.ids.identity(*lan_identity()))
        assert listed[:2] == [kept, twin]
        assert isinstance(ledger.repository.get(KEYED_IDS_ID), KeyedIds)


def test_a_start_on_a_keyed_store_reads_the_fingerprint_only(
    store_url, another_store_url, tmp_path, monkeypatch
):
    """Every start checks the secret, and tests and workers start many ledgers: one stream read."""
    from usecases import keyed_ids

    with opened(store_url, tmp_path / "secrets") as ledger:
        ledger.register_person(lan(), actor=SITE)
    scans: list[int] = []
    real = keyed_ids.holds_unkeyed_keys
    monkeypatch.setattr(keyed_ids, "holds_unkeyed_keys", lambda app: scans.append(1) or real(app))
    with opened(store_url, tmp_path / "secrets") as ledger:
        assert ledger.decisions.ids.recorded
    assert scans == []  # no read by topic once the fingerprint is there
    with opened(another_store_url, tmp_path / "secrets") as ledger:
        assert not ledger.decisions.ids.recorded
    assert scans == [1]  # a store without one: one LIMIT 1 read
