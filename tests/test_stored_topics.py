"""Stored events name their class by topic: a class that moves keeps the topics already stored,
or every stream holding them stops loading and every view filtering on them misses them."""

from __future__ import annotations

from eventsourcing.domain import CanMutateAggregate
from eventsourcing.utils import get_topic

from intake.retro import run_import
from ledger.access import PersonDataRead
from ledger.issuance import Issuance
from ledger.keys import CorrectionTicket, IdentityKey, KeyedIds, NationalIdClaim, SiteRecord
from ledger.person import Person
from ledger.principal import Principal
from ledger.retro_import import RetroImport
from ledger.rules_book import SeriesRulesBook
from ledger.site import Site
from ledger.values import Actor
from tests.retro_files import FORM, people_rows, write_csv

STORED = {
    "ledger.person:Person": {
        "CorrectionAssigned",
        "CorrectionRepeated",
        "CorrectionRequested",
        "CorrectionResolved",
        "DetailsCorrected",
        "DoseAmended",
        "DoseRecorded",
        "DoseVoided",
        "DuplicateAbsorbed",
        "DuplicateReleased",
        "Erased",
        "FlagResolved",
        "MergeUndone",
        "FlagResolutionsCarried",
        "MergedInto",
        "Registered",
    },
    "ledger.site:Site": {"Listed", "Reviewed", "TallyReported"},
    "ledger.keys:SiteRecord": {"Claimed"},
    "ledger.keys:NationalIdClaim": {"Claimed", "Reassigned"},
    "ledger.keys:IdentityKey": {"Claimed", "Joined", "Left"},
    "ledger.keys:CorrectionTicket": {"Issued", "Moved"},
    "ledger.keys:KeyedIds": {"Adopted"},
    "ledger.access:PersonDataRead": {"Recorded"},
    "ledger.principal:Principal": {"TokenIssued", "TokenRevoked"},
    "retro.submission:RetroImport": {"Started", "ChunkImported", "Queued", "Resumed", "Completed", "Failed"},
    "ledger.issuance:Issuance": {"Issued", "Revoked"},
    "ledger.rules_book:SeriesRulesBook": {"Opened", "Adopted"},
}
AGGREGATES = (
    Person,
    Site,
    SiteRecord,
    NationalIdClaim,
    IdentityKey,
    CorrectionTicket,
    KeyedIds,
    PersonDataRead,
    Principal,
    RetroImport,
    Issuance,
    SeriesRulesBook,
)


def _event_topics(aggregate: type) -> set[str]:
    return {
        get_topic(value)
        for name, value in vars(aggregate).items()
        if isinstance(value, type)
        and issubclass(value, CanMutateAggregate)
        and name not in ("Event", "Created", "Snapshot")
    }


def test_every_event_class_keeps_the_topic_its_events_are_stored_under():
    assert {get_topic(a): _event_topics(a) for a in AGGREGATES} == {
        aggregate: {f"{aggregate}.{name}" for name in names} for aggregate, names in STORED.items()
    }


def test_a_retro_import_stored_after_its_class_moved_reads_back_under_the_old_topics(ledger, tmp_path):
    result = run_import(
        ledger, write_csv(tmp_path / "f.csv", people_rows(2)), FORM, actor=Actor("u1", "admin")
    )
    topics = [e.topic for e in ledger.events.recorder.select_events(result.import_id)]
    assert topics and all(t.startswith("retro.submission:RetroImport.") for t in topics)
    assert isinstance(ledger.repository.get(result.import_id), RetroImport)
