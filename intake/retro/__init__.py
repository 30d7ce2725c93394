"""Retro import: spreadsheets of doses given before the platform (or of sites' daily tallies,
told by the header), validated row by row, idempotent, attested, streamed in chunks.

What the CLI and the HTTP endpoints call:
    template_csv() / template_xlsx()                       the blank template (bytes)
    tally_template_csv() / tally_template_xlsx()           the blank tally template (bytes)
    run_import(ledger, path, Form(...), actor=, dry_run=, mapping=)  → ImportResult
    start_import(ledger, path, Form(...), actor=, ...)      → import id (rows in the background)
    ImportJobs(ledger, folder, resume_after=).watch()      jobs: run, kept, resumed after a restart
    import_status(ledger, import_id)                        → status, counts, first errors
    import_errors(ledger, import_id) → errors_csv(...)      → the full error report as CSV lines
    parse_mapping("col=field,..." or "mapping.json")        → Mapping for files of other shapes
    intake.submit / intake.status / intake.errors_csv_lines / intake.template
                                                            the HTTP endpoints' calls, in their shapes
"""

from intake.retro import intake
from intake.retro.importing import Form, ImportResult, Progress, RetroImportRun, run_import
from intake.retro.jobs import ImportJobs, import_folder, start_import
from intake.retro.mapping import Mapping, MappingError, parse_mapping
from intake.retro.reading import UnreadableFile
from intake.retro.report import errors_csv
from intake.retro.rows import TemplateMismatch
from intake.retro.status import ImportNotFound, import_errors, import_status
from intake.retro.template import (
    tally_template_csv,
    tally_template_xlsx,
    template_csv,
    template_xlsx,
    write_template,
)

__all__ = [
    "Form",
    "ImportResult",
    "Progress",
    "RetroImportRun",
    "run_import",
    "start_import",
    "ImportJobs",
    "import_folder",
    "Mapping",
    "MappingError",
    "parse_mapping",
    "UnreadableFile",
    "errors_csv",
    "TemplateMismatch",
    "ImportNotFound",
    "import_errors",
    "import_status",
    "template_csv",
    "template_xlsx",
    "tally_template_csv",
    "tally_template_xlsx",
    "write_template",
    "intake",
]
