"""One run through every use case that writes, with ids, codes, tokens and clocks made
repeatable, so that the state bytes it stores can be compared with bytes frozen earlier.

`python -m tests.stored_states` rewrites the frozen file: do that only for a deliberate
change of what events store (a new event class version), never to make the test pass.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from itertools import count
from pathlib import Path
from unittest import mock
from uuid import UUID

import eventsourcing.domain

from ledger import chain
from ledger import keys as ledger_keys
from ledger.access import PersonDataRead
from ledger.retro_import import RetroImport
from ledger.values import Actor
from store import data_keys
from store.data_keys import KEK_NAME
from store.secrets import SECRETS_KEY, Secrets
from usecases import series_rules
from usecases.application import DoseLedger
from usecases.principals import issue_token, revoke_token

FROZEN = Path(__file__).with_name("stored_states.json")
CLERK = Actor("clerk-1", "site")
ADMIN = Actor("admin-1", "admin")
OFFICIAL = Actor("official-79", "province")
PERSON = {
    "full_name": "Nguyễn Thị Lan",
    "birth_date": "1985-03-14",
    "sex": "female",
    "national_id": "001185012345",
    "phone": "0912345678",
    "province": "01",
    "district": "Ba Đình",
    "address": "12 Phố Huế",
}


@contextmanager
def repeatable() -> Iterator[None]:
    """Random bytes (uuid4, verification codes, tokens) and event clocks from counters; the
    keyed ids and the chain under fixed secrets, whatever the run's secrets folder holds."""
    drawn = count()
    fixed_secret = sha256(b"repeatable ids secret").digest()
    keyed, fingerprint = ledger_keys._keyed, ledger_keys._fingerprint
    ticks = count()
    start = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    def random_bytes(n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += sha256(f"draw {next(drawn)}".encode()).digest()
        return out[:n]

    def clock() -> datetime:
        return start + timedelta(milliseconds=next(ticks))

    # The key that wraps data keys, made before the draws are counted: whether an earlier test
    # made it already must not shift them (the keys it wraps are no part of the events).
    Secrets.from_env().key(KEK_NAME, create=True)
    with (
        # A key made again for a person whose cached key expired would shift the draws.
        mock.patch.object(data_keys, "CACHE_SECONDS", 3600.0),
        mock.patch.object(os, "urandom", random_bytes),
        mock.patch.object(random, "_urandom", random_bytes),
        mock.patch.object(eventsourcing.domain, "datetime_now_with_tzinfo", clock),
        mock.patch.object(ledger_keys, "_keyed", lambda _, name: keyed(fixed_secret, name)),
        mock.patch.object(ledger_keys, "_fingerprint", lambda _: fingerprint(fixed_secret)),
        mock.patch.object(chain, "_chain_key", sha256(b"the stored states' chain secret").digest()),
    ):
        yield


def write_every_event(ledger: DoseLedger) -> None:
    """Each use case that writes, once or more, in an order that makes each one possible."""
    lan = ledger.register_person(
        PERSON, actor=CLERK, person_id=UUID("00000000-0000-4000-8000-000000000001")
    ).person_id
    twin = ledger.register_person(
        {**PERSON, "national_id": None},
        actor=CLERK,
        channel="portal",
        source={"kind": "portal", "form": "self-registration"},
    ).person_id
    first = ledger.record_dose(
        site_id="HN-001",
        site_record_id="R1",
        vaccine="EU/1/20/1528",
        lot="FA1234",
        administered_at="2021-08-01",
        person_id=lan,
        actor=CLERK,
    )
    ledger.record_dose(
        site_id="HN-001",
        site_record_id="R1",
        vaccine="EU/1/20/1528",
        lot="FA1234",
        administered_at="2021-08-01",
        person_id=lan,
        actor=CLERK,
    )  # a duplicate
    minh = ledger.record_dose(
        site_id="HN-002",
        site_record_id="R9",
        vaccine="Moderna",
        administered_at="2021-09-01T08:30:00+07:00",
        dose_number=1,
        actor=CLERK,
        person={
            **PERSON,
            "full_name": "Trần Văn Minh",
            "national_id": "001190000001",
            "birth_date": "1990-01-01",
            "sex": "male",
        },
    )
    ledger.record_doses(
        [
            {
                "site_id": "HN-001",
                "site_record_id": "R2",
                "vaccine": "EU/1/20/1528",
                "administered_at": "2021-09-01",
                "person_id": str(twin),
            },
            {
                "site_id": "HN-003",
                "site_record_id": "R3",
                "vaccine": "Pfizer",
                "administered_at": "2021-10-01",
                "person": {**PERSON, "national_id": None, "full_name": "Lê Thị Hoa"},
            },
        ],
        actor=CLERK,
        sources=[None, {"kind": "retro_import", "import_id": "x", "row": 2}],
        match_identity=True,
    )
    ledger.amend_dose(first.dose_id, {"lot": "FA9999"}, "typo in the lot", actor=CLERK)
    ledger.correct_details(
        lan, {"national_id": "001185099999", "full_name": "Nguyễn Thị Lan Anh"}, "new card", actor=ADMIN
    )
    ledger.merge_persons(lan, twin, "registered twice", actor=ADMIN)
    missing = {"vaccine": "Pfizer", "administered_at": "2021-09-20", "site_id": "HCM-TYT-001"}
    filed = ledger.request_correction(
        lan,
        "missing_dose",
        missing,
        contact="0912345678",
        evidence_ref="card photo",
        filed_at="2026-01-01",
        actor=Actor("portal", "portal"),
    )
    ledger.request_correction(
        lan,
        "missing_dose",
        missing,
        channel="hotline",
        filed_at="2026-01-02",
        actor=Actor("portal", "portal"),
    )
    ledger.assign_correction(filed.request_id, {"province": "01"}, actor=ADMIN)
    ledger.resolve_correction(filed.request_id, "accepted", "card matches", actor=OFFICIAL)
    wrong = ledger.request_correction(
        lan, "wrong_dose", {"dose_id": str(first.dose_id), "not_given": True}, filed_at="2026-01-03"
    )
    ledger.resolve_correction(wrong.request_id, "rejected", "the site's log shows it")
    details = ledger.request_correction(
        lan, "wrong_details", {"changes": {"phone": "0987654321"}}, filed_at="2026-01-04"
    )
    ledger.resolve_correction(details.request_id, "accepted", "checked by phone")
    ledger.void_dose(first.dose_id, "entered in error", actor=CLERK)
    ledger.register_site(
        "HN-100", name="Trạm Y tế Phúc Xá", kind="official", province="01", district="Ba Đình", actor=ADMIN
    )
    ledger.review_site("HN-002", "approved", kind="mobile", name="Đội lưu động 2", actor=ADMIN)
    ledger.review_site("HN-003", "rejected", reason="not a site", actor=ADMIN)
    _, principal = issue_token(
        ledger, role="province", provinces=["01"], name="Sở Y tế", actor=ADMIN.as_data()
    )
    revoke_token(ledger, str(principal.id), "left the job", actor=ADMIN.as_data())
    # Reads are no longer events (usecases.access_log); an older store's still load.
    ledger.save(PersonDataRead.record("auditor-1", "auditor", [lan, twin], "certificate"))
    retro = RetroImport.start(
        UUID("00000000-0000-4000-8000-0000000000aa"),
        file_name="f.csv",
        file_sha256="0" * 64,
        file_size=10,
        unit="Sở Y tế",
        attested_by="A",
        document_ref=None,
        site_id=None,
        submitter=ADMIN.as_data(),
        mapping=None,
    )
    retro.chunk_imported(
        1,
        2,
        {"rows": 2, "created": 1, "rejected": 1},
        [{"row": 2, "field": "vaccine", "message": "unknown"}],
        0.5,
    )
    retro.complete()
    ledger.save(retro)
    ledger.erase_person(minh.person_id, "the citizen's request", actor=ADMIN)
    rules = json.loads(Path(__file__).with_name("series-rules").joinpath("2.json").read_text("utf-8"))
    series_rules.adopt(ledger, rules, "boosters after a one-dose series written n/n", ADMIN)
    # A background import (a job), taken over by a service after its process stopped.
    job = RetroImport.start(
        UUID("00000000-0000-4000-8000-0000000000ab"),
        file_name="g.csv",
        file_sha256="1" * 64,
        file_size=20,
        unit="Sở Y tế",
        attested_by="A",
        document_ref=None,
        site_id="HN-001",
        submitter=CLERK.as_data(),
        mapping=None,
    )
    job.queue(dry_run=False, allowed_sites=["HN-001"], chunk_rows=500)
    job.chunk_imported(1, 2, {"rows": 2, "created": 2}, [], 0.5)
    job.resume()
    job.fail("the process running it stopped and its kept upload is gone")
    ledger.save(job)


def stored_states(ledger: DoseLedger) -> list[list[str]]:
    """[topic, state] of every stored event, in the order they were stored."""
    found = ledger.recorder.select_notifications(start=1, limit=10_000)
    return [[n.topic, n.state.decode()] for n in found]


def frozen() -> list[list[str]]:
    """[topic, state] of every event the same run stored with the code of before."""
    loaded: list[list[str]] = json.loads(FROZEN.read_text())
    return loaded


def main() -> None:  # pragma: no cover - run by hand, see the module's docstring
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        os.environ[SECRETS_KEY] = f"{tmp}/secrets"  # never the user's own secrets
        ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": f"sqlite:///{tmp}/ledger.db"})
        with repeatable():
            write_every_event(ledger)
        states = stored_states(ledger)
        ledger.close()
    FROZEN.write_text(json.dumps(states, ensure_ascii=False, indent=0) + "\n")


if __name__ == "__main__":  # pragma: no cover
    main()
