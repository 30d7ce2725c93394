"""Running the projections: resuming, failing loudly, a second projector, rebuilds, the CLI."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from eventsourcing.persistence import ListenNotifySubscription

from cli.demo import seed
from cli.main import main
from ledger.person import Person
from projections import open_views
from projections import records as person_records
from projections.engine import rebuild as rebuilding
from projections.engine import shared_fold
from projections.engine.postgres import PostgresTables
from projections.engine.sqlite import SQLiteTables
from projections.engine.tables import TrackingConflict
from projections.running import ProjectorRunning, rebuild, start_embedded
from projections.views import PROJECTIONS, construct_view
from tests.readside import FAST, assert_views_are_a_fresh_fold, caught_up, everything, rebuilding_rows
from tests.test_ledger import dose, lan
from usecases.application import DoseLedger


@pytest.fixture
def views(store_url):
    opened = open_views(store_url)
    yield opened
    opened.close()


def eventually(condition, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_runner_stopped_between_two_events_resumes_without_double_counting(ledger, store_url, views):
    survivor = ledger.register_person(lan()).person_id
    duplicate = ledger.register_person(lan(national_id=None, full_name="Nguyen Thi Lan")).person_id
    dose(ledger, survivor, "R1")
    dose(ledger, duplicate, "R2", administered_at="2021-08-29")
    ledger.merge_persons(survivor, duplicate, "same person")
    # Stop every view in the middle of the merge's transaction: the survivor has the doses,
    # the duplicate still has them too.
    notifications = ledger.recorder.select_notifications(start=1, limit=100)
    absorbed = next(n.id for n in notifications if n.topic.endswith("Person.DuplicateAbsorbed"))
    for name, projection in PROJECTIONS.items():
        projection(view=views.by_name[name]).process_notifications(
            [n for n in notifications if n.id <= absorbed], ledger.mapper, after=None
        )
    assert views.statistics.dose_counts([]) == [{"doses": 3}]  # as the ledger stood at that point

    with start_embedded(store_url, **FAST):
        caught_up(views, ledger)
    assert views.statistics.dose_counts([]) == [{"doses": 2}]
    dose(ledger, survivor, "R3", administered_at="2022-01-10")  # recorded while nothing runs
    assert views.status()[0]["lag_events"] > 0 and views.status()[0]["state"] == "stopped"
    with start_embedded(store_url, **FAST):
        caught_up(views, ledger)
    assert views.statistics.dose_counts([]) == [{"doses": 3}]
    assert views.certificates.certificate(survivor)["status"] == "booster"
    assert_views_are_a_fresh_fold(views, ledger)


def test_a_poison_event_is_reported_and_retried_never_a_silent_death(ledger, store_url, views, monkeypatch):
    pid = ledger.register_person(lan()).person_id
    first = dose(ledger, pid, "R1")
    dose(ledger, pid, "R2", administered_at="2021-08-29")
    voided = person_records._APPLY[Person.DoseVoided]

    def poisoned(record, event):
        raise KeyError(f"cannot void {event.dose_id}")

    monkeypatch.setitem(person_records._APPLY, Person.DoseVoided, poisoned)
    readers = {name for name, p in PROJECTIONS.items() if Person.DoseVoided in p.handles}
    with start_embedded(store_url, **FAST):
        poison = ledger.void_dose(first.dose_id, "entered in error").position
        later = ledger.register_person(lan(full_name="Trần Văn Hùng", national_id=None)).person_id
        assert eventually(lambda: all(s["state"] == "failed" for s in views.status() if s["name"] in readers))
        for s in views.status():
            if s["name"] not in readers:  # a view that does not read voids goes on
                assert s["state"] == "running" and s["position"] > poison
                continue
            assert f"stopped at notification {poison} (ledger.person:Person.DoseVoided" in s["error"]
            assert s["position"] == poison - 1  # everything before it applied, nothing after
        assert views.localities.find(phone="0912345678")[0]["person_id"] == str(pid)
        assert len(views.localities.find(phone="0912345678")) == 1  # the later person waits

        monkeypatch.setitem(person_records._APPLY, Person.DoseVoided, voided)  # the fix is deployed
        caught_up(views, ledger)
        assert eventually(lambda: all((s["state"], s["error"]) == ("running", None) for s in views.status()))
    assert views.certificates.certificate(pid)["status"] == "partial"
    assert str(later) in [p["person_id"] for p in views.localities.find(phone="0912345678")]
    assert_views_are_a_fresh_fold(views, ledger)


def test_a_subscription_reads_again_once_it_listens_so_no_commit_waits_for_the_next(ledger, monkeypatch):
    """A commit landing between a subscription's first read and the moment it listens would
    otherwise wait for the next commit to be seen (on a quiet ledger, for ever)."""
    reads = threading.Semaphore(0)
    read = ListenNotifySubscription._pull

    def counted(subscription):
        reads.release()
        read(subscription)

    monkeypatch.setattr(ListenNotifySubscription, "_pull", counted)
    with ledger.recorder.follow(None):
        assert reads.acquire(timeout=5), "the first read"
        assert reads.acquire(timeout=5), "a second read, with nothing committed to wake it"


def test_a_worker_that_cannot_reach_its_lock_tries_again(ledger, store_url, views, monkeypatch):
    view_class = SQLiteTables if store_url.startswith("sqlite") else PostgresTables
    exclusive, failures = view_class.exclusive, []

    def unreachable(self, stopping):
        if len(failures) < 3:
            failures.append(self.name)
            raise OSError("connection refused")
        return exclusive(self, stopping)

    monkeypatch.setattr(view_class, "exclusive", unreachable)
    pid = ledger.register_person(lan()).person_id
    with start_embedded(store_url, **FAST):
        caught_up(views, ledger)
    assert len(failures) == 3
    assert views.certificates.certificate(pid)["status"] == "none"


def test_a_second_projector_waits_and_nothing_is_applied_twice(ledger, store_url, views):
    first = start_embedded(store_url, **FAST)
    second = start_embedded(store_url, **FAST)
    try:
        pid = ledger.register_person(lan()).person_id
        for n in range(6):
            dose(ledger, pid, f"R{n}", administered_at=f"2021-{n + 3:02d}-01")
        caught_up(views, ledger)
        assert_views_are_a_fresh_fold(views, ledger)
        first.stop()  # the waiting one takes over
        dose(ledger, pid, "R9", administered_at="2021-12-01")
        caught_up(views, ledger)
        assert views.statistics.dose_counts([]) == [{"doses": 7}]
        assert_views_are_a_fresh_fold(views, ledger)
    finally:
        first.stop()
        second.stop()


def test_a_rebuilt_view_equals_the_live_one(ledger, store_url, views):
    with start_embedded(store_url, **FAST):
        seed(ledger, people=80)
        for phone in ("0900000001", "0900000002"):  # possibly one person, registered twice
            ledger.register_person(lan(national_id=None, phone=phone))
        caught_up(views, ledger)
        live = everything(views)
        with pytest.raises(ProjectorRunning):
            rebuild(store_url, "review", progress=False, wait=0.3)
    assert live["doses"] and live["flags"] and live["duplicates"]  # the demo has some of each
    rebuilt = rebuild(store_url, "all", progress=False)
    assert [(r.name, r.position) for r in rebuilt] == [(name, ledger.head()) for name in PROJECTIONS]
    assert everything(views) == live
    assert_views_are_a_fresh_fold(views, ledger)


def test_a_rebuild_read_ahead_in_many_pages_equals_the_live_views(ledger, store_url, views, monkeypatch):
    with start_embedded(store_url, **FAST):
        seed(ledger, people=40)
        caught_up(views, ledger)
        live = everything(views)
    # Pages of 7: the reader is pages ahead of the views, which fold each page in threads of
    # their own; every page boundary falls somewhere inside a person's events.
    monkeypatch.setattr(rebuilding, "PAGE", 7)
    rebuilt = rebuild(store_url, "all", progress=False)
    assert {r.position for r in rebuilt} == {ledger.head()}
    assert everything(views) == live
    assert_views_are_a_fresh_fold(views, ledger)


@pytest.mark.parametrize(
    "when", [2, 3], ids=["once-certificates-are-folded", "once-the-reader-gets-to-the-head"]
)
def test_a_rebuild_reads_the_events_recorded_while_it_runs(ledger, store_url, views, monkeypatch, when):
    seed(ledger, people=40)
    pid = ledger.register_person(lan()).person_id
    recorded, asked = [], []
    head = DoseLedger.head

    def a_dose_recorded_meanwhile(self):
        # The rebuild asks for the head as it folds the certificates person by person (1), as
        # the other views' reader starts (2), when that reader gets there (3), and so on (then
        # the certificates follow, page by page, from where their fold stopped). A dose
        # recorded after the fold's head, or by the time the reader gets to the head, is one
        # it must still read.
        if self is not ledger:
            asked.append(self)
            if len(asked) == when:
                recorded.append(dose(ledger, pid, "DURING-REBUILD"))
        return head(self)

    monkeypatch.setattr(rebuilding, "PAGE", 7)
    monkeypatch.setattr(DoseLedger, "head", a_dose_recorded_meanwhile)
    rebuilt = rebuild(store_url, "all", progress=False)
    assert recorded and len(asked) > when
    assert {r.position for r in rebuilt} == {ledger.head()}
    assert [d["dose_id"] for d in views.certificates.certificate(pid)["doses"]] == [str(recorded[0].dose_id)]
    assert_views_are_a_fresh_fold(views, ledger)


def view_indexes(store_url: str) -> set[tuple[str, str]]:
    """(table, index) of every index the views declared (by the names they give), as stored."""
    parts = urlsplit(store_url)
    if parts.scheme == "sqlite":
        with sqlite3.connect(parts.path[1:]) as conn:
            found = conn.execute("SELECT tbl_name, name FROM sqlite_master WHERE type = 'index'").fetchall()
    else:
        schema = parse_qs(parts.query)["schema"][0]
        with psycopg.connect(store_url.split("?")[0]) as conn:
            found = conn.execute(
                "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = %s", (schema,)
            ).fetchall()
    stems = tuple(f"{name}_" for name in PROJECTIONS)
    return {
        (table, index)
        for table, index in found  # not the keys' own: "_pkey", "_key", "_pkey1"...
        if index.startswith(stems) and not re.search(r"_(pkey|key)\d*$", index)
    }


def test_a_rebuilt_view_has_its_indexes_under_their_own_names(ledger, store_url, views):
    """The swap leaves the view's indexes on the view's tables, named as a new store names
    them (PostgreSQL builds them on the copies first and renames them; SQLite builds them in
    the swap), however many rebuilds: a later start finds them, and none is built twice."""
    seed(ledger, people=40)
    fresh = view_indexes(store_url)
    assert fresh == {
        (f"{view.name}_{short}", index)
        for view in views.by_name.values()
        for index, short, _ in view._named_indexes()
    }
    assert len(fresh) >= 8
    for _ in range(2):
        rebuild(store_url, "all", progress=False)
        assert view_indexes(store_url) == fresh
    open_views(store_url).close()  # a later start: nothing more to create
    assert view_indexes(store_url) == fresh


def failing_at(items, n: int, error: Exception):
    """The items, until the n-th (from 0), which raises `error` instead."""
    for k, item in enumerate(items):
        if k == n:
            raise error
        yield item


def rebuilt_in_a_thread(store_url: str, name: str) -> list[BaseException]:
    """What `rebuild` raised; a rebuild that hangs fails the test."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            rebuild(store_url, name, progress=False)
        except BaseException as e:  # noqa: BLE001 - what the caller of rebuild would see
            raised.append(e)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the rebuild hangs"
    return raised


def test_a_rebuild_whose_reading_fails_or_whose_views_all_fail_stops_and_says_why(
    ledger, store_url, views, monkeypatch
):
    seed(ledger, people=40)
    monkeypatch.setattr(rebuilding, "PAGE", 7)  # pages queued ahead when it stops
    recorder = type(ledger.recorder)
    select = recorder.select_notifications
    pages = []

    def failing_on_the_third_page(self, *args, **kwargs):
        pages.append(kwargs.get("limit") == 7)  # the rebuild's pages, not another reader's
        if pages.count(True) == 3 and pages[-1]:
            raise OSError("the ledger went away")
        return select(self, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(recorder, "select_notifications", failing_on_the_third_page)
        assert [str(e) for e in rebuilt_in_a_thread(store_url, "all")] == ["the ledger went away"]

    def broken(self, *args):
        raise RuntimeError("cannot fold this")

    # The certificates and statistics were folded person by person; then the other views'
    # reading failed, and a failing fold leaves its view as it was.
    folded = views.certificates.position()
    assert folded == views.statistics.position() == ledger.head()
    for projection in PROJECTIONS.values():
        monkeypatch.setattr(projection, "process_page", broken)
        monkeypatch.setattr(projection, "replay_by_person", broken)
    assert [str(e) for e in rebuilt_in_a_thread(store_url, "all")] == ["cannot fold this"]
    assert {name: view.position() for name, view in views.by_name.items()} == {
        name: folded if projection.rebuilds_by_person else None for name, projection in PROJECTIONS.items()
    }


def test_a_rebuild_reaches_the_head_though_the_last_events_are_of_topics_its_view_ignores(
    ledger, store_url, views
):
    pid = ledger.register_person(lan()).person_id
    dose(ledger, pid, "R1")
    # A rebuild reads only the topics its views read: the certificates view reads no Site event.
    ledger.register_site("79-TYT-009", name="Trạm Y tế 9", kind="official", province="79")
    last = ledger.recorder.select_notifications(start=ledger.head(), limit=1)[0]
    assert last.topic not in PROJECTIONS["certificates"].topics_read
    [rebuilt] = rebuild(store_url, "certificates", progress=False)
    assert rebuilt.position == ledger.head() == views.certificates.position()
    assert rebuilt.events == len(ledger.recorder.select_notifications(start=1, limit=1000))


def test_a_view_that_fails_its_rebuild_does_not_stop_the_others(ledger, store_url, views, monkeypatch):
    seed(ledger, people=80)
    rebuild(store_url, "all", progress=False)
    pid = ledger.register_person(lan()).person_id
    dose(ledger, pid, "R1")  # after the first rebuild: a view not rebuilt again stays behind

    def broken(self, *args):
        raise RuntimeError("this view cannot fold this")

    monkeypatch.setattr(PROJECTIONS["corrections"], "process_page", broken)  # rebuilt page by page
    monkeypatch.setattr(PROJECTIONS["statistics"], "replay_by_person", broken)  # person by person
    before = views.statistics.position()
    with pytest.raises(RuntimeError, match="cannot fold"):
        rebuild(store_url, "all", progress=False)
    assert views.corrections.position() is None  # dropped, and not one page applied
    assert views.statistics.position() == before < ledger.head()  # as it was
    assert {
        name: view.position()
        for name, view in views.by_name.items()
        if name not in ("corrections", "statistics")
    } == {name: ledger.head() for name in PROJECTIONS if name not in ("corrections", "statistics")}
    monkeypatch.undo()
    rebuild(store_url, "all", progress=False)
    assert_views_are_a_fresh_fold(views, ledger)


def test_certificates_folded_person_by_person_equal_certificates_folded_page_by_page(
    ledger, store_url, views, monkeypatch
):
    """Versions, ids, revocations, issue times: the same, whichever order the events come in."""
    seed(ledger, people=80)
    pid = ledger.register_person(lan()).person_id
    dose(ledger, pid, "R1")
    dose(ledger, pid, "R2", administered_at="2021-09-01")
    ledger.void_dose(dose(ledger, pid, "R3", administered_at="2021-10-01").dose_id, "entered twice")
    certificates, folds = PROJECTIONS["certificates"], []
    replay_by_person = certificates.replay_by_person
    monkeypatch.setattr(certificates, "replay_by_person", lambda *args: folds.append(replay_by_person(*args)))

    def stored() -> tuple[list, dict]:  # the certificates, and the records the next pages fold onto
        shown = list(views.certificates.every())
        return shown, views.certificates.load([c["person_id"] for c in shown])

    views.certificates.report("failed", "the error a rebuild is run for")
    [by_person] = rebuild(store_url, "certificates", progress=False)
    assert views.certificates.runner() is None  # the status no longer shows the old failure
    folded = stored()
    [by_page] = rebuild(store_url, "certificates", progress=False, by_person=False)
    assert len(folds) == 1  # the second went page by page
    assert stored() == folded
    folded = folded[0]
    assert by_person.position == by_page.position == ledger.head()
    assert views.certificates.certificate(pid)["version"] == 5  # registered, three doses, one void
    assert any(c["merged_into"] for c in folded) and any(len(c["revoked"]) > 2 for c in folded)


def view_rows(view) -> dict[str, list]:
    """Every row of every table of a view, in one order."""
    with view.reading() as sql:
        return {
            short: sorted((tuple(row.values()) for row in sql.rows(f"SELECT * FROM {{{short}}}")), key=repr)
            for short in view.tables
        }


@pytest.mark.parametrize("name", ["statistics", "localities", "review"])
def test_views_folded_person_by_person_equal_views_folded_page_by_page(
    ledger, store_url, views, monkeypatch, name
):
    """Each person folded once (and counted once, in the provinces the directory ends with)
    equals each person folded page after page: the same rows in every table."""
    seed(ledger, people=80)
    pid = ledger.register_person(lan(national_id=None, full_name="Người tiêm lưu động")).person_id
    dose(ledger, pid, "MOBILE-1", site_id="48-LD-NEW")  # unlisted: listed provisional, in Hà Nội's count
    dose(ledger, pid, "MOBILE-2", site_id="48-LD-NEW", administered_at="2021-09-01")
    ledger.review_site("48-LD-NEW", "approved", kind="mobile", province="48")  # its doses move to Đà Nẵng
    moved = dose(ledger, pid, "MOBILE-3", administered_at="2021-10-01")
    ledger.amend_dose(moved.dose_id, {"site_id": "48-LD-NEW"}, "given by the mobile team")
    projection, view, folds = PROJECTIONS[name], views.by_name[name], []
    replay_by_person = projection.replay_by_person
    monkeypatch.setattr(projection, "replay_by_person", lambda *args: folds.append(replay_by_person(*args)))

    view.report("failed", "the error a rebuild is run for")
    [by_person] = rebuild(store_url, name, progress=False)
    assert len(folds) == 1 and view.runner() is None
    folded = view_rows(view)
    [by_page] = rebuild(store_url, name, progress=False, by_person=False)
    assert len(folds) == 1  # the second went page by page
    assert view_rows(view) == folded
    assert by_person.position == by_page.position == ledger.head()
    assert (
        all(len(rows) > 10 for short, rows in folded.items() if short != "coverage")
        and rebuilding_rows(views) == 0
    )
    if name == "statistics":
        assert sum(r["doses"] for r in views.statistics.dose_counts(["province"], provinces=["48"])) >= 3
    rebuild(store_url, "all", progress=False)  # folded again, and the other views
    assert view_rows(view) == folded
    assert_views_are_a_fresh_fold(views, ledger)


@pytest.mark.parametrize("name", ["certificates", "statistics", "localities", "review"])
def test_a_view_whose_rebuild_stops_halfway_stays_as_it_was(ledger, store_url, views, monkeypatch, name):
    """A view folded person by person is folded into tables of its own, which take the view's
    place only once whole: a rebuild that stops halfway (its reading failed, after some people
    were written) leaves the rows the API reads, and their position, as they were."""
    seed(ledger, people=80)
    rebuild(store_url, name, progress=False)
    pid = ledger.register_person(lan()).person_id
    dose(ledger, pid, "R1")  # after the first rebuild: not in the view
    # Marked, so that a rebuild writing over the view's rows would show.
    tamper(store_url, f"""UPDATE {name}_people SET record = '{{"marked": true}}'""")
    view = views.by_name[name]
    before, shown = view.position(), view_rows(view)
    projection = PROJECTIONS[name]
    replay_by_person = projection.replay_by_person
    written = []

    def reading_fails_halfway(self, events, position):
        def save_rebuilding(*rows, save=self.view.save_rebuilding):
            written.append(save(*rows))

        self.view.save_rebuilding = save_rebuilding
        return replay_by_person(
            self, failing_at(events, 300, OSError("the ledger went away")), position, people_per_write=10
        )

    monkeypatch.setattr(projection, "replay_by_person", reading_fails_halfway)
    with pytest.raises(OSError, match="went away"):
        rebuild(store_url, name, progress=False)
    assert len(written) >= 3  # some people were written before it stopped
    assert view.position() == before < ledger.head()
    assert view_rows(view) == shown and all(row[1] == '{"marked": true}' for row in shown["people"])
    assert rebuilding_rows(views) == 0  # nobody's personal data left behind in its tables
    monkeypatch.undo()
    rebuild(store_url, "all", progress=False)
    if name == "certificates":
        assert views.certificates.certificate(pid)["version"] == 2
    assert_views_are_a_fresh_fold(views, ledger)


def test_a_rebuild_whose_read_of_the_streams_fails_midway_leaves_every_folded_view_as_it_was(
    ledger, store_url, views, monkeypatch
):
    """PostgreSQL folds the views together from one read of the ledger: that read failing
    stops every fold, each leaving its view (and nobody's data beside it) as it was."""
    seed(ledger, people=80)
    rebuild(store_url, "all", progress=False)
    dose(ledger, ledger.register_person(lan()).person_id, "R1")
    folding = [name for name, p in PROJECTIONS.items() if p.rebuilds_by_person]
    before = {name: (views.by_name[name].position(), view_rows(views.by_name[name])) for name in folding}
    monkeypatch.setattr(shared_fold, "CHUNK", 5)  # a few chunks handed over before the failure
    recorder = type(ledger.recorder)
    scan_streams = recorder.scan_streams

    def failing_midway(self, topics, up_to, *args):
        return failing_at(scan_streams(self, topics, up_to, *args), 150, OSError("the ledger went away"))

    monkeypatch.setattr(recorder, "scan_streams", failing_midway)
    assert {str(e) for e in rebuilt_in_a_thread(store_url, "all")} == {"the ledger went away"}
    assert {
        name: (views.by_name[name].position(), view_rows(views.by_name[name])) for name in folding
    } == before
    assert rebuilding_rows(views) == 0


def test_a_view_whose_fold_fails_midway_does_not_hold_the_others_back(ledger, store_url, views, monkeypatch):
    """A fold that stops taking events (it failed) while the reader waits for room in its
    queue: the reader hands it nothing more, and the other views are folded to the head."""
    seed(ledger, people=80)
    rebuild(store_url, "all", progress=False)
    dose(ledger, ledger.register_person(lan()).person_id, "R1")
    monkeypatch.setattr(shared_fold, "CHUNK", 5)
    monkeypatch.setattr(shared_fold, "AHEAD", 1)
    statistics = PROJECTIONS["statistics"]
    before = views.statistics.position(), view_rows(views.statistics)
    replay_by_person = statistics.replay_by_person

    def failing_after_some_events(self, events, position):
        return replay_by_person(
            self, failing_at(events, 100, ValueError("statistics cannot fold this")), position
        )

    monkeypatch.setattr(statistics, "replay_by_person", failing_after_some_events)
    assert [str(e) for e in rebuilt_in_a_thread(store_url, "all")] == ["statistics cannot fold this"]
    assert (views.statistics.position(), view_rows(views.statistics)) == before
    assert {name: view.position() for name, view in views.by_name.items() if name != "statistics"} == {
        name: ledger.head() for name in PROJECTIONS if name != "statistics"
    }
    assert rebuilding_rows(views) == 0


def test_a_projector_empties_what_a_rebuild_killed_halfway_left_beside_the_certificates(
    ledger, store_url, views
):
    """kill -9 gives a rebuild no chance to empty its table; the projector that holds the view
    next does, so nobody's personal data lies there until the next rebuild."""
    seed(ledger, people=40)
    rebuild(store_url, "certificates", progress=False)
    shown = list(views.certificates.every())
    views.certificates.save_rebuilding(views.certificates.load([c["person_id"] for c in shown]))
    assert rebuilding_rows(views) == len(shown)  # as a killed rebuild leaves it
    with start_embedded(store_url, ["certificates"], **FAST):
        deadline = time.monotonic() + 30
        while rebuilding_rows(views) and time.monotonic() < deadline:
            time.sleep(0.02)
    assert rebuilding_rows(views) == 0
    assert list(views.certificates.every()) == shown


def test_a_projector_starting_on_empty_views_folds_them_person_by_person(
    ledger, store_url, views, monkeypatch
):
    """A first start (or a view dropped) catches up as a rebuild does, then follows page by page."""
    seed(ledger, people=40)
    folds, folding = [], sorted(name for name, p in PROJECTIONS.items() if p.rebuilds_by_person)
    assert folding == ["backlog", "certificates", "localities", "review", "statistics"]
    for name in folding:
        replay_by_person = PROJECTIONS[name].replay_by_person
        monkeypatch.setattr(
            PROJECTIONS[name],
            "replay_by_person",
            lambda *args, name=name, fold=replay_by_person: folds.append((name, fold(*args))),
        )
    with start_embedded(store_url, **FAST):
        caught_up(views, ledger)
        pid = ledger.register_person(lan(national_id=None, full_name="Người đến sau")).person_id
        dose(ledger, pid, "AFTER-1")
        caught_up(views, ledger)
        assert eventually(lambda: all(s["state"] == "running" for s in views.status()))
    # Once each, at the start: what came after went page by page.
    assert sorted(name for name, _ in folds) == folding
    assert views.certificates.certificate(pid)["version"] == 2
    assert rebuilding_rows(views) == 0
    assert_views_are_a_fresh_fold(views, ledger)


def test_a_projector_stopped_while_folding_leaves_the_certificates_empty_and_folds_again(
    ledger, store_url, views, monkeypatch
):
    seed(ledger, people=40)
    monkeypatch.setattr(rebuilding, "BEAT", 10)
    recorder, events = type(ledger.recorder), threading.Event
    halfway, later, go = events(), events(), events()
    scan_streams = recorder.scan_streams

    def slow_from_halfway(self, topics, up_to, *args):
        for n, stored in enumerate(scan_streams(self, topics, up_to, *args)):
            if n >= 100:  # ~1 s from the 100th event to the 150th: five heartbeats of FAST's
                halfway.set()
                time.sleep(0.02)
            if n == 150:
                later.set()
                go.wait(30)
            yield stored

    monkeypatch.setattr(recorder, "scan_streams", slow_from_halfway)
    projector = start_embedded(store_url, ["certificates"], **FAST)
    try:
        assert halfway.wait(30)
        beat = views.certificates.runner()["heartbeat"]
        assert later.wait(30)
        assert views.certificates.runner()["heartbeat"] > beat  # it beats while it folds
        assert state(views, "certificates") == "running"
        projector.workers[0].stop()
    finally:
        go.set()
        projector.stop()
    assert views.certificates.position() is None and list(views.certificates.every()) == []
    assert rebuilding_rows(views) == 0
    assert state(views, "certificates") == "stopped"

    monkeypatch.undo()
    with start_embedded(store_url, ["certificates"], **FAST):
        assert eventually(lambda: views.certificates.position() == ledger.head())
    rebuild(store_url, "all", progress=False, by_person=False)  # the other views, page by page
    assert_views_are_a_fresh_fold(views, ledger)


def test_certificates_moved_while_they_were_folded_are_not_replaced(ledger, store_url, views, monkeypatch):
    """The swap checks that the view is still where it was when the fold began (a second
    writer, after a lost lock, may have moved it): else it refuses, and nothing changes."""
    seed(ledger, people=40)
    rebuild(store_url, "certificates", progress=False)
    before, shown = views.certificates.position(), list(views.certificates.every())
    recorder = type(ledger.recorder)
    scan_streams = recorder.scan_streams

    def another_writer_moves_the_view(self, topics, up_to, *args):
        for n, stored in enumerate(scan_streams(self, topics, up_to, *args)):
            if n == 50:  # as the fold goes on
                tamper(store_url, f"UPDATE certificates_tracking SET notification_id = {before - 1}")
            yield stored

    monkeypatch.setattr(recorder, "scan_streams", another_writer_moves_the_view)
    with pytest.raises(TrackingConflict, match="while it was folded"):
        rebuild(store_url, "certificates", progress=False)
    assert views.certificates.position() == before - 1 and list(views.certificates.every()) == shown
    assert rebuilding_rows(views) == 0


def test_a_fold_that_fails_goes_page_by_page_which_names_the_event(ledger, store_url, views, monkeypatch):
    pid = ledger.register_person(lan()).person_id
    first = dose(ledger, pid, "R1")
    poison = ledger.void_dose(first.dose_id, "entered in error").position
    dose(ledger, pid, "R2", administered_at="2021-08-29")
    voided = person_records._APPLY[Person.DoseVoided]

    def poisoned(record, event):
        raise KeyError(f"cannot void {event.dose_id}")

    monkeypatch.setitem(person_records._APPLY, Person.DoseVoided, poisoned)
    certificates, tried = PROJECTIONS["certificates"], []
    replay_by_person = certificates.replay_by_person
    monkeypatch.setattr(
        certificates, "replay_by_person", lambda *args: (tried.append(1), replay_by_person(*args))
    )
    with start_embedded(store_url, ["certificates"], **FAST):
        assert eventually(lambda: state(views, "certificates") == "failed")
        assert tried == [1]  # folded first, once: then page by page, stopping at the poison
        [status] = [s for s in views.status() if s["name"] == "certificates"]
        assert f"stopped at notification {poison} (ledger.person:Person.DoseVoided" in status["error"]
        assert views.certificates.position() == poison - 1
        monkeypatch.setitem(person_records._APPLY, Person.DoseVoided, voided)
        assert eventually(lambda: views.certificates.position() == ledger.head())
    assert views.certificates.certificate(pid)["doses"][0]["administered_at"] == "2021-08-29"


def state(views, name: str) -> str:
    return next(s["state"] for s in views.status() if s["name"] == name)


def test_a_person_registered_as_the_certificates_are_folded_is_folded_once(
    ledger, store_url, views, monkeypatch
):
    """The fold reads the ledger up to the head it read first; what comes after is the pages'."""
    seed(ledger, people=40)
    recorder, late = type(ledger.recorder), []
    scan_streams = recorder.scan_streams

    def a_person_registered_once_the_head_is_read(self, topics, up_to, *args):
        late.append(ledger.register_person(lan(national_id=None, full_name="Người đến muộn")).person_id)
        dose(ledger, late[0], "LATE-1")
        return scan_streams(self, topics, up_to, *args)

    monkeypatch.setattr(recorder, "scan_streams", a_person_registered_once_the_head_is_read)
    [rebuilt] = rebuild(store_url, "certificates", progress=False)
    assert rebuilt.position == ledger.head() == views.certificates.position()
    certificate = views.certificates.certificate(late[0])
    assert certificate["version"] == 2 and len(certificate["doses"]) == 1
    # Its first version certified nothing (no dose): nothing to supersede.
    assert certificate["certificate_id"] is not None and certificate["revoked"] == []


def tamper(store_url: str, statement: str) -> None:
    """Change a view's rows behind the projections' back."""
    parts = urlsplit(store_url)
    if parts.scheme == "sqlite":
        with sqlite3.connect(parts.path[1:]) as conn:
            conn.execute(statement)
        return
    schema = parse_qs(parts.query)["schema"][0]
    with psycopg.connect(store_url.split("?")[0], autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute(statement)


def test_reconcile_prints_every_difference_and_fails_on_any(ledger, store_url, capsys):
    pid = ledger.register_person(lan()).person_id
    dose(ledger, pid, "R1")
    dose(ledger, pid, "R2", administered_at="2021-08-29")
    assert main(["--database-url", store_url, "rebuild", "--all", "--quiet"]) == 0
    assert "certificates: rebuilt to position" in capsys.readouterr().out
    assert main(["--database-url", store_url, "reconcile"]) == 0
    assert "no differences" in capsys.readouterr().out

    tamper(store_url, "UPDATE statistics_dose_counts SET doses = doses + 1 WHERE dose_number = 2")
    tamper(
        store_url,
        "UPDATE certificates_people SET document = "
        'replace(document, \'"status":"complete"\', \'"status":"partial"\')',
    )
    assert main(["--database-url", store_url, "reconcile"]) == 1
    out = capsys.readouterr().out
    assert (
        "statistics: doses 2021-08-29/01/Ba Đình/HN-001/EU/1/20/1528/2/18-49/female: 2 in the view, 1 in the ledger"
        in out
    )
    assert f"certificates: person {pid}: status 'partial' in the view, 'complete' in the ledger" in out
    assert "2 differences" in out


def test_the_project_worker_runs_until_sigterm(ledger, store_url, views):
    worker = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "--database-url", store_url, "project"],
        env={**os.environ, "PYTHONPATH": os.getcwd()},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        pid = ledger.register_person(lan()).person_id
        dose(ledger, pid, "R1")
        caught_up(views, ledger)
        assert eventually(lambda: all(s["state"] == "running" for s in views.status()))
        assert views.certificates.certificate(pid)["status"] == "partial"
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=20)
    assert worker.returncode == 0, output
    assert "stopping the projections" in output
    assert all(s["state"] == "stopped" for s in views.status())


def test_a_view_reads_its_own_database(ledger, store_url):
    """The views live beside the ledger: its SQLite file, or its PostgreSQL schema."""
    view = construct_view(ledger, PROJECTIONS["certificates"])
    if store_url.startswith("sqlite"):
        assert view.datastore.pool.db_name == urlsplit(store_url).path[1:]
    else:
        assert view.datastore.schema == parse_qs(urlsplit(store_url).query)["schema"][0]
