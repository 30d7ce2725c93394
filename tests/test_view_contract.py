"""What every view promises, whatever the store: one contract class, run on SQLite and PostgreSQL
(the `store_url` fixture) for each of the projections."""

from __future__ import annotations

import threading

import pytest
from eventsourcing.persistence import Tracking

from projections.storage import LEDGER, TrackingConflict
from projections.views import PROJECTIONS, construct_view
from tests.test_ledger import dose, lan
from usecases.application import DoseLedger


def people_rows(view) -> int:
    with view.reading() as sql:
        return int(sql.rows("SELECT COUNT(*) AS n FROM {people}")[0]["n"])


@pytest.fixture(params=list(PROJECTIONS))
def projection(request, ledger: DoseLedger):
    return PROJECTIONS[request.param](view=construct_view(ledger, PROJECTIONS[request.param]))


@pytest.fixture
def notifications(ledger: DoseLedger):
    """Three people registered, one dose: the people's notifications, in order.

    (Key streams written beside them are left out, so ids are positions, not a count.)"""
    pids = [ledger.register_person(lan(national_id=None, full_name=f"Người {n}")).person_id for n in range(3)]
    dose(ledger, pids[0], "R1")
    return [n for n in ledger.recorder.select_notifications(start=1, limit=100) if n.originator_id in pids]


class TestViewContract:
    def test_a_fresh_view_has_applied_nothing(self, projection):
        assert projection.view.position() is None
        assert people_rows(projection.view) == 0

    def test_a_page_commits_its_rows_and_its_position_together(self, projection, notifications, ledger):
        assert projection.process_notifications(notifications[:3], ledger.mapper, after=None) == notifications[2].id
        assert projection.view.position() == notifications[2].id and people_rows(projection.view) == 3
        last = projection.process_notifications(notifications[3:], ledger.mapper, after=notifications[2].id)
        assert projection.view.position() == last == notifications[-1].id

    def test_a_page_applied_twice_is_refused_and_changes_nothing(self, projection, notifications, ledger):
        projection.process_notifications(notifications[:2], ledger.mapper, after=None)
        for after in (None, 0, notifications[0].id):  # as if a runner crashed after the commit and forgot it
            with pytest.raises(TrackingConflict):
                projection.process_notifications(notifications[:2], ledger.mapper, after=after)
        assert projection.view.position() == notifications[1].id and people_rows(projection.view) == 2

    def test_a_page_folded_from_a_position_the_view_has_left_is_refused(self, projection, notifications, ledger):
        projection.process_notifications(notifications[:2], ledger.mapper, after=None)
        projection.process_notifications(notifications[2:3], ledger.mapper, after=notifications[1].id)
        with pytest.raises(TrackingConflict):  # a second writer, still at 2, overlapping the first
            projection.process_notifications(notifications[2:], ledger.mapper, after=notifications[1].id)
        assert projection.view.position() == notifications[2].id and people_rows(projection.view) == 3

    def test_the_commit_itself_checks_the_position(self, projection, notifications, ledger):
        """A writer that checked the position, then lost a race to another, fails at commit."""
        projection.process_notifications(notifications[:3], ledger.mapper, after=None)
        for after in (None, notifications[1].id):
            with pytest.raises(TrackingConflict), projection.view.writing(
                    Tracking(LEDGER, notifications[-1].id + 5), after) as sql:
                sql.run("DELETE FROM {people}")
        assert projection.view.position() == notifications[2].id and people_rows(projection.view) == 3

    def test_a_failed_transaction_changes_neither_rows_nor_the_position(self, projection, notifications, ledger):
        projection.process_notifications(notifications[:3], ledger.mapper, after=None)
        with pytest.raises(RuntimeError), projection.view.writing(
                Tracking(LEDGER, notifications[3].id), notifications[2].id) as sql:
            sql.run("DELETE FROM {people}")
            raise RuntimeError("the process died here")
        assert projection.view.position() == notifications[2].id and people_rows(projection.view) == 3

    def test_drop_forgets_the_rows_and_the_position(self, projection, notifications, ledger):
        projection.process_notifications(notifications, ledger.mapper, after=None)
        projection.view.report("running")
        projection.view.drop()
        assert projection.view.position() is None and people_rows(projection.view) == 0
        assert projection.view.runner() is None
        projection.process_notifications(notifications, ledger.mapper, after=None)
        assert people_rows(projection.view) == 3

    def test_the_librarys_one_event_path_applies_an_event_and_tracks_it(self, projection, notifications, ledger):
        for notification in notifications:
            projection.process_event(ledger.mapper.to_domain_event(notification),
                                     Tracking(LEDGER, notification.id))
        assert people_rows(projection.view) == 3
        assert projection.view.has_tracking_id(LEDGER, notifications[-1].id)
        projection.view.wait(LEDGER, notifications[-1].id, timeout=1)

    def test_the_runner_row_says_what_its_runner_does(self, projection):
        assert projection.view.runner() is None
        projection.view.report("failed", "stopped at notification 7: KeyError")
        runner = projection.view.runner()
        assert (runner["state"], runner["error"]) == ("failed", "stopped at notification 7: KeyError")

    def test_a_views_commit_does_not_wait_for_the_disk_and_the_ledgers_still_does(self, projection,
                                                                               ledger: DoseLedger):
        """A view's commit lost to a power cut takes its position with it: its events are applied
        again. A dose the ledger accepted is never lost: its commits wait for the disk, on the
        same connections the views borrow."""
        sqlite = ledger.factory.__class__.__name__.startswith("SQLite")
        setting = "PRAGMA synchronous" if sqlite else "SHOW synchronous_commit"
        with projection.view._session(write=True) as sql:
            in_view = list(sql.rows(setting)[0].values())[0]
            borrowed = sql.cursor.connection  # the pool's: the ledger's writer gets it next
        assert in_view == (1 if sqlite else "off")  # SQLite NORMAL: no sync at each WAL commit
        after = borrowed.execute(setting).fetchone()  # the same connection, back in the pool
        assert (after[0] if sqlite else after["synchronous_commit"]) == (2 if sqlite else "on")  # FULL


class TestOneDatabaseManyViews:
    def test_each_view_keeps_its_own_position(self, ledger, notifications):
        """eventsourcing's SQLite tracking table is one `tracking` table keyed by application:
        views sharing it would share one position. Each has its own."""
        views = {name: p(view=construct_view(ledger, p)) for name, p in PROJECTIONS.items()}
        views["certificates"].process_notifications(notifications[:1], ledger.mapper, after=None)
        views["review"].process_notifications(notifications[:3], ledger.mapper, after=None)
        assert {name: p.view.position() for name, p in views.items()} == \
            {"certificates": notifications[0].id, "statistics": None, "localities": None,
             "review": notifications[2].id, "corrections": None}

    def test_a_second_runner_waits_for_the_first(self, ledger):
        view = construct_view(ledger, PROJECTIONS["statistics"])
        other = construct_view(ledger, PROJECTIONS["statistics"])
        never, soon = threading.Event(), threading.Event()
        with view.exclusive(never) as first:
            assert first
            threading.Timer(0.3, soon.set).start()
            with other.exclusive(soon) as second:
                assert not second  # it gave up waiting
        with other.exclusive(never) as second:
            assert second  # free once the first let go

    def test_a_certificate_too_big_for_one_stored_row_reads_back_whole(self, ledger, store_url):
        """Twelve doses make a record and certificate of about 4 kB, past the 2 kB after which
        PostgreSQL compresses a row; its views compress with lz4 (faster than its default,
        pglz), and every byte comes back."""
        person = ledger.register_person(lan()).person_id
        for n in range(12):
            dose(ledger, person, f"BIG-{n}", administered_at=f"2021-{1 + n:02d}-01", lot=f"LOT-{n:02d}-" + "X" * 40)
        projection = PROJECTIONS["certificates"](view=construct_view(ledger, PROJECTIONS["certificates"]))
        projection.process_notifications(ledger.recorder.select_notifications(start=1, limit=1000),
                                         ledger.mapper, after=None)
        again = construct_view(ledger, PROJECTIONS["certificates"])  # as the API reads it
        certificate = again.certificate(person)
        assert [d["lot"] for d in certificate["doses"]] == [f"LOT-{n:02d}-" + "X" * 40 for n in range(12)]
        assert certificate["status"] == "booster" and certificate["version"] == 13
        if store_url.startswith("postgresql"):
            with again.reading() as sql:
                stored = sql.rows("SELECT pg_column_compression(record) AS record, "
                                  "pg_column_compression(document) AS document FROM {people}")
                has_lz4 = sql.rows("SELECT 'lz4' = ANY(enumvals) AS has FROM pg_settings "
                                   "WHERE name = 'default_toast_compression'")[0]["has"]
            method = "lz4" if has_lz4 else "pglz"  # a server built without lz4 keeps its default
            assert stored == [{"record": method, "document": method}]
