"""Every reach past eventsourcing's public API, in one module, pinned to the library's minor version.

The library's public API covers almost everything the ledger does. Where measurement or a
missing hook made the project reach into its private methods, the reach is here and nowhere
else, so that an upgrade of the library has one file to read. Importing this module with
another minor version fails at once; tests/test_library_reach.py compares each reach with the
library's public path on both stores.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.sqlite import SQLiteRecorder

PINNED = "9.5"  # the minor version every reach below was written against and tested with
INSTALLED = version("eventsourcing")
if INSTALLED.split(".")[:2] != PINNED.split("."):
    raise ImportError(
        f"store.library reaches into eventsourcing {PINNED}'s private API, but {INSTALLED} is "
        "installed: check each reach in store/library.py against the new version, then re-pin")


def save(app: Application[Any], aggregates: Sequence[Any]) -> int | None:
    """`Application.save` as the library writes it, less `ProcessingEvent.collect_events`: its
    isinstance checks against runtime typing Protocols cost more per aggregate than the
    aggregate's own events do, and the ledger only ever saves concrete aggregates.

    Returns the position of the last event written (None: nothing was written).
    """
    processing = ProcessingEvent()
    for aggregate in aggregates:
        processing.events.extend(aggregate.collect_events())
        processing.aggregates[aggregate.id] = aggregate
    recordings = app._record(processing)
    app._take_snapshots(processing)
    app._notify(recordings)
    return recordings[-1].notification.id if recordings and recordings[-1].notification else None


def create_sqlite_tables(recorder: SQLiteRecorder, cursor: Any) -> None:
    """Run the recorder's CREATE statements as the library's `SQLiteRecorder` does, without
    `SQLiteTrackingRecorder`'s migration of its older multi-row `tracking` table: each view
    tracks in a table of its own, which never had the old shape."""
    SQLiteRecorder._create_table(recorder, cursor)
