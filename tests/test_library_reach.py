"""The ledger's reaches past eventsourcing's public API (store/library.py) do what the public
path does: an upgrade of the library that changes one fails here, not in production."""

from __future__ import annotations

from importlib.metadata import version
from uuid import uuid4

from ledger.site import MOBILE, Site
from store import library

ACTOR = {"principal_id": "p", "role": "admin"}


def _listed(name: str) -> Site:
    site = Site.add_to_directory(uuid4(), name, name, MOBILE, "01", None, ACTOR, {"kind": "directory"})
    site.review("approved", None, f"{name} renamed", None, None, None, ACTOR)
    return site


def _stored(ledger, aggregate_id):
    return [(e.originator_version, e.topic.rsplit(":", 1)[1])
            for e in ledger.events.recorder.select_events(aggregate_id)]


def test_the_pinned_minor_version_is_the_installed_one():
    assert version("eventsourcing").startswith(f"{library.PINNED}.")


def test_the_ledgers_save_stores_what_the_librarys_save_stores_and_answers_its_position(ledger):
    ours, theirs = _listed("A"), _listed("B")
    position = library.save(ledger, [ours])
    recordings = ledger.save(theirs)
    assert _stored(ledger, ours.id) == _stored(ledger, theirs.id) == [(1, "Site.Listed"), (2, "Site.Reviewed")]
    assert position == ledger.recorder.max_notification_id() - 2
    assert recordings[-1].notification.id == ledger.recorder.max_notification_id()
    # Both folds read back as the aggregate that was saved (snapshots and cache included).
    for saved in (ours, theirs):
        found = ledger.repository.get(saved.id)
        assert (found.version, found.name, found.review_status) == (2, saved.name, "approved")


def test_the_ledgers_save_of_nothing_new_writes_nothing_and_answers_no_position(ledger):
    site = _listed("C")
    library.save(ledger, [site])
    head = ledger.recorder.max_notification_id()
    assert library.save(ledger, [site]) is None
    assert ledger.recorder.max_notification_id() == head
