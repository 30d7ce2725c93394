"""What the HTTP endpoints call, in their shapes, knowing nothing of HTTP.

    POST /v1/imports[?dry_run=true]   submit(ledger, saved_upload, form, actor, dry_run=...)
    GET  /v1/imports/{id}             status(ledger, import_id, actor)
    GET  /v1/imports/{id}/errors.csv  errors_csv_lines(ledger, import_id, actor)
    GET  /v1/imports/template.csv     template("csv") → (bytes, media type, file name)
    GET  /v1/imports/template.xlsx    template("xlsx")
    GET  /v1/imports/tally-template.csv|xlsx   template(kind, tallies=True)

Refusals, for the endpoint to map: ledger.errors.LedgerError (a form field: 422),
TemplateMismatch / UnreadableFile / MappingError (the file: 422), ImportNotFound (404, also
for an import the caller may not read, so ids reveal nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

from intake.retro.importing import Form, run_import
from intake.retro.jobs import ImportJobs, import_folder
from intake.retro.mapping import Mapping
from intake.retro.report import errors_csv
from intake.retro.status import ImportNotFound, import_errors, import_status
from intake.retro.template import tally_template_csv, tally_template_xlsx, template_csv, template_xlsx
from ledger.retro_import import COUNTS, RUNNING
from ledger.values import Actor
from usecases.application import DoseLedger

# Files larger than this run in the background, dry runs too, as jobs (intake.retro.jobs): the
# answer is `running` and the import id to poll.
BACKGROUND_BYTES = 2_000_000  # about 15,000 rows of the template
READERS = ("admin", "auditor")  # besides the submitter
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def submit(
    ledger: DoseLedger,
    path: str | Path,
    form: Form,
    actor: Actor,
    *,
    dry_run: bool = False,
    file_name: str | None = None,
    mapping: Mapping | None = None,
    background_bytes: int = BACKGROUND_BYTES,
    when_done: Callable[[], None] | None = None,
    jobs: ImportJobs | None = None,
) -> dict[str, Any]:
    """{import_id, kind, status, dry_run, rows, created, duplicate, conflict, rejected, error_count,
    errors: [{row, column, value, msg}]}; status `running` for a large file (poll `status`).
    `kind`: doses, or tallies for a tally file (told by its header).

    A site principal passes its sites in `form.allowed_sites`. `when_done` runs once the file
    is no longer needed here (e.g. to delete the saved upload): a large file is moved into the
    jobs' import folder first, where a restarted service finds it. A small dry run answers
    here, its import id None: nothing of it is stored to poll.
    """
    path = Path(path)
    if path.stat().st_size <= background_bytes:
        try:
            return run_import(
                ledger, path, form, actor=actor, dry_run=dry_run, mapping=mapping, file_name=file_name
            ).as_dict()
        finally:
            if when_done is not None:
                when_done()
    jobs = jobs or ImportJobs(ledger, import_folder(None))
    import_id = jobs.start(
        path, form, actor, dry_run=dry_run, mapping=mapping, file_name=file_name, when_done=when_done
    )
    return {
        "import_id": str(import_id),
        "kind": None,  # told by the header, read in the background: the status says the counts
        "status": RUNNING,
        "dry_run": dry_run,
        **dict.fromkeys(COUNTS, 0),
        "error_count": 0,
        "flag_count": 0,
        "errors": [],
    }


def status(ledger: DoseLedger, import_id: UUID | str, actor: Actor) -> dict[str, Any]:
    """The import's status, counts, progress and first errors, for its submitter, admins and auditors."""
    found = import_status(ledger, import_id)
    _check_reader(found, import_id, actor)
    return found


def errors_csv_lines(ledger: DoseLedger, import_id: UUID | str, actor: Actor) -> Iterator[str]:
    """The full error report as CSV, line by line (stream it; it may be long)."""
    _check_reader(import_status(ledger, import_id, errors=0), import_id, actor)
    return errors_csv(import_errors(ledger, import_id))


def template(kind: str, *, tallies: bool = False) -> tuple[bytes, str, str]:
    """The blank template of doses, or of sites' daily tallies (`tallies`): bytes, media type, file name."""
    if tallies:
        if kind == "xlsx":
            return tally_template_xlsx(), XLSX, "mau-so-lieu-theo-ngay.xlsx"
        return tally_template_csv(), "text/csv; charset=utf-8", "mau-so-lieu-theo-ngay.csv"
    if kind == "xlsx":
        return template_xlsx(), XLSX, "mau-tiem-bo-sung.xlsx"
    return template_csv(), "text/csv; charset=utf-8", "mau-tiem-bo-sung.csv"


def _check_reader(found: dict[str, Any], import_id: UUID | str, actor: Actor) -> None:
    if actor.role not in READERS and found["submitter"]["principal_id"] != actor.principal_id:
        raise ImportNotFound(import_id)
