"""Imports run as jobs: in the background, their upload kept until they end, and taken over by
a service when the process running them stopped (killed, its machine lost), never left running.

A job's stream says all a restarted service needs (Started: the form, the submitter, the
mapping; Queued: dry run or not, the sites the submitter may book for, the chunk size); its
upload waits in the import folder under the import's id. `ImportJobs` runs this process's jobs
and watches the others: an import still running whose stream has not moved for `resume_after`
seconds, while this process watched it, belongs to a process that stopped. The watch claims it
(Resumed, saved at the version it watched: two services cannot both claim it) and carries on
after the last row a chunk saved; the rows the stopped process stored past it (its chunk under
way) are found by their source and counted as this import's, each booked once. Without its
upload (or for an import that was no job: the CLI's), it is marked Failed with exactly what
was stored: the rows its chunks saved, plus the doses of the chunk under way.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from intake.retro.importing import Form, RetroImportRun
from intake.retro.mapping import Mapping
from ledger.person import Person
from ledger.retro_import import RUNNING, RetroImport
from ledger.site import Site
from ledger.values import Actor
from usecases.application import DoseLedger

log = logging.getLogger(__name__)

KEPT = "doseledger-import-"  # the folder of a job's upload, in the import folder
# The watch follows these only: a chunk's event may carry hundreds of errors, too many to read
# every import's at each start. Whether a stream moves it asks of the streams still running.
STARTED = f"{RetroImport.TOPIC}.Started"
ENDED_TOPICS = [f"{RetroImport.TOPIC}.{name}" for name in ("Completed", "Failed")]
DOSE_RECORDED = get_topic(Person.DoseRecorded)
TALLY_REPORTED = get_topic(Site.TallyReported)  # a tally file's rows
PAGE = 1000


def import_folder(setting: str | None) -> Path:
    """Where uploads wait (the `import_dir` setting; unset: the system's temporary folder)."""
    return Path(setting or tempfile.gettempdir())


@dataclass(frozen=True)
class KeptUpload:
    folder: Path

    @property
    def file(self) -> Path:
        return self.folder / "file"

    @property
    def people(self) -> Path:
        return self.folder / "people"

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def kept_upload(folder: Path, import_id: UUID) -> KeptUpload:
    return KeptUpload(folder / f"{KEPT}{import_id}")


def keep(folder: Path, import_id: UUID, file: Path, people: Path | None) -> KeptUpload:
    """Move the upload (and the people file a mapping reads) where a restarted service finds it."""
    kept = kept_upload(folder, import_id)
    kept.folder.mkdir(mode=0o700, parents=True)
    shutil.move(file, kept.file)
    if people is not None:
        shutil.move(people, kept.people)
    return kept


@dataclass
class _Watched:
    started_at: int  # the position of its Started event
    version: int  # the stream's version when last seen moving
    since: float  # monotonic time when this process saw it move last


class ImportJobs:
    """This process's import jobs, and the watch over everyone's."""

    def __init__(self, ledger: DoseLedger, folder: Path, *, resume_after: float = 60.0) -> None:
        self.ledger = ledger
        self.folder = folder
        self.resume_after = resume_after
        self._lock = threading.Lock()
        self._running: set[UUID] = set()
        self._watched: dict[UUID, _Watched] = {}
        self._after = 0  # the position the watch has read up to
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- running jobs ------------------------------------------------------------------------

    def start(
        self,
        path: Path,
        form: Form,
        actor: Actor,
        *,
        dry_run: bool = False,
        mapping: Mapping | None = None,
        keep_upload: bool = True,
        when_done: Callable[[], None] | None = None,
        **options: Any,
    ) -> UUID:
        """Check the form and header, open the stream, record the rows in a background thread.

        keep_upload: move the file (and a mapping's people file) into the import folder, so that
        a restarted service resumes the job; `when_done` then runs at once (the sender's copy is
        gone), and the kept copy is removed when the import ends. Otherwise the file is read
        where it is and `when_done` runs when the thread ends.
        """
        import_id = uuid4()
        kept = None
        if keep_upload:
            people = mapping.people_path if mapping is not None else None
            try:
                kept = keep(self.folder, import_id, path, people)
            finally:
                if when_done is not None:
                    when_done()
                when_done = None
            path = kept.file
            if people is not None and mapping is not None:
                mapping.people_path = kept.people
        run = RetroImportRun(
            self.ledger,
            path,
            form,
            actor,
            dry_run=dry_run,
            mapping=mapping,
            import_id=import_id,
            job=True,
            **options,
        )
        try:
            run.begin()
        except BaseException:
            if kept is not None:
                kept.discard()
            if when_done is not None:
                when_done()
            raise
        self._run(run, kept, when_done)
        return import_id

    def _run(
        self, run: RetroImportRun, kept: KeptUpload | None, when_done: Callable[[], None] | None
    ) -> None:
        with self._lock:
            self._running.add(run.import_id)

        def work() -> None:
            try:
                run.proceed()
            except Exception:  # stored as Failed by proceed(), or left for a watch
                log.warning("retro import %s stopped", run.import_id, exc_info=True)
            finally:
                with self._lock:
                    self._running.discard(run.import_id)
                # Kept while the stream says running: a Failed the store could not take, or a
                # service that took the job over, still needs it.
                if kept is not None and self._ended(run.import_id):
                    kept.discard()
                if when_done is not None:
                    when_done()

        threading.Thread(target=work, name=f"retro-import-{run.import_id}", daemon=True).start()

    def _ended(self, import_id: UUID) -> bool:
        try:
            record: RetroImport = self.ledger.repository.get(import_id)
        except Exception:  # noqa: BLE001 - the store unreachable: keep the upload
            return False
        return record.status != RUNNING

    def running(self) -> set[UUID]:
        with self._lock:
            return set(self._running)

    # -- the watch ---------------------------------------------------------------------------

    def watch(self, every: float | None = None) -> ImportJobs:
        """Check for stopped imports every `every` seconds (default: a quarter of resume_after)."""
        period = every if every is not None else min(max(self.resume_after / 4, 0.2), 15.0)

        def loop() -> None:
            while not self._stop.wait(period):
                try:
                    self.take_over_stopped()
                except Exception:  # the store away: checked again next time
                    log.warning("the retro import watch could not read the store", exc_info=True)

        self._thread = threading.Thread(target=loop, name="retro-import-watch", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def take_over_stopped(self) -> list[UUID]:
        """Resume (or mark failed) every import whose stream stood still for resume_after."""
        self._follow()
        taken = []
        for import_id, seen in list(self._watched.items()):
            if import_id in self.running():
                continue
            (last,) = self.ledger.recorder.select_events(import_id, desc=True, limit=1)
            if last.originator_version != seen.version:
                seen.version, seen.since = last.originator_version, time.monotonic()
                continue
            if time.monotonic() - seen.since >= self.resume_after and self._take_over(import_id, seen):
                taken.append(import_id)
        return taken

    def _follow(self) -> None:
        """Read the imports started and ended since the last look."""
        recorder = self.ledger.recorder
        while True:
            page = recorder.select_notifications(
                start=self._after + 1, limit=PAGE, topics=[STARTED, *ENDED_TOPICS]
            )
            now = time.monotonic()
            for n in page:
                import_id = UUID(str(n.originator_id))
                if n.topic == STARTED:
                    self._watched[import_id] = _Watched(n.id, n.originator_version, now)
                else:
                    self._watched.pop(import_id, None)
                self._after = n.id
            if len(page) < PAGE:
                return

    def _take_over(self, import_id: UUID, seen: _Watched) -> bool:
        record: RetroImport = self.ledger.repository.get(import_id)
        if record.status != RUNNING:
            self._watched.pop(import_id, None)
            return False
        if record.version != seen.version:  # moved since the watch read it: not stopped
            seen.version, seen.since = record.version, time.monotonic()
            return False
        kept = kept_upload(self.folder, import_id)
        if not record.queued or not kept.file.exists():
            what = "the import ran where it was sent" if not record.queued else "its kept upload is gone"
            return self._fail(record, seen, f"the process running it stopped and {what}")
        run = self._resumed_run(record, kept)
        if not record.dry_run:
            run.stored_rows = frozenset(self._unreported_rows(record, seen.started_at))
        record.resume()
        try:
            run.begin()  # saves the claim
        except IntegrityError:
            return False  # another service claimed it first
        except Exception as e:  # noqa: BLE001 - the kept file unreadable, changed, its mapping gone
            fresh: RetroImport = self.ledger.repository.get(import_id)
            return self._fail(fresh, seen, f"the process running it stopped and it cannot go on: {e}")
        log.info("retro import %s resumed after row %d", import_id, record.last_row)
        self._watched.pop(import_id, None)
        self._run(run, kept, None)
        return True

    def _resumed_run(self, record: RetroImport, kept: KeptUpload) -> RetroImportRun:
        allowed = record.allowed_sites
        form = Form(
            unit=record.unit,
            attested_by=record.attested_by,
            document_ref=record.document_ref,
            site_id=record.site_id,
            allowed_sites=frozenset(allowed) if allowed is not None else None,
        )
        return RetroImportRun(
            self.ledger,
            kept.file,
            form,
            Actor(record.submitter["principal_id"], record.submitter["role"]),
            dry_run=record.dry_run,
            mapping=_mapping(record.mapping, kept),
            file_name=record.file_name,
            chunk_rows=record.chunk_rows,
            import_id=record.id,
            job=True,
            resuming=record,
        )

    def _fail(self, record: RetroImport, seen: _Watched, why: str) -> bool:
        """Failed, with the doses the chunk under way stored before the process stopped."""
        rows = [] if record.dry_run else self._unreported_rows(record, seen.started_at)
        if rows:
            counts = {"rows": len(rows), "created": len(rows)}
            record.chunk_imported(min(rows), max(rows), counts, [], None)
        saved = dict(record.counts)
        record.fail(
            f"{why}: {saved['created']} rows booked, {saved['duplicate']} already there, "
            f"{saved['rejected']} refused, up to row {record.last_row}; the rows after it are "
            "not imported: send the file again (nothing is stored twice)"
        )
        try:
            self.ledger.save(record)
        except IntegrityError:
            return False  # another service got to it first
        self._watched.pop(record.id, None)
        kept_upload(self.folder, record.id).discard()
        log.info("retro import %s marked failed: %s", record.id, why)
        return True

    def _unreported_rows(self, record: RetroImport, started_at: int) -> list[int]:
        """Rows of this import whose doses (or tallies) were stored after its last chunk's report: read from
        its start (the position of its last event is not kept), only rows past that chunk."""
        wanted, after_row = str(record.id), record.last_row
        rows: list[int] = []
        start = started_at + 1
        while True:
            page = self.ledger.recorder.select_notifications(
                start=start, limit=PAGE, topics=[DOSE_RECORDED, TALLY_REPORTED]
            )
            for n in page:
                if wanted.encode() not in bytes(n.state):  # stored as JSON: most are others' doses
                    continue
                source = getattr(self.ledger.mapper.to_domain_event(n), "source", None) or {}
                if source.get("import_id") == wanted and source.get("kind") == "retro_import":
                    if int(source["row"]) > after_row:
                        rows.append(int(source["row"]))
            if len(page) < PAGE:
                return rows
            start = page[-1].id + 1


def _mapping(described: dict[str, Any] | None, kept: KeptUpload) -> Mapping | None:
    """The mapping as its Started event describes it (columns matched, code tables resolved)."""
    if described is None:
        return None
    people = described.get("people")
    return Mapping(
        columns=described["columns"],
        values=described["values"],
        others=described["others"],
        defaults=described["defaults"],
        people_spec=people,
        people_path=kept.people if people is not None else None,
    )


def start_import(
    ledger: DoseLedger,
    path: str | Path,
    form: Form,
    *,
    actor: Actor,
    mapping: Mapping | None = None,
    when_done: Callable[[], None] | None = None,
    jobs: ImportJobs | None = None,
    **options: Any,
) -> UUID:
    """Run an import in the background where the file is (no upload kept: a stopped process's
    import is marked failed by a watch, with what was stored). Returns the import id at once;
    its stream tells the progress (intake.retro.status)."""
    jobs = jobs or ImportJobs(ledger, Path(path).parent)
    return jobs.start(
        Path(path), form, actor, mapping=mapping, keep_upload=False, when_done=when_done, **options
    )
