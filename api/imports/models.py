"""Retro imports on the wire: the row report, the status, the errors."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.models import example

IMPORT_ID = "0b7e6a2c-3f1d-4e8a-9c5b-7d2e1f0a4b6c"
ROW_ERROR = {"row": 17, "column": "Ngày tiêm", "value": "31/02/2021", "msg": "is not a date"}
IMPORT_COUNTS = {"rows": 1200, "created": 1180, "duplicate": 15, "conflict": 0, "rejected": 5}


class ImportRowError(BaseModel):
    model_config = example(ROW_ERROR)
    row: int = Field(description="the row number as the spreadsheet shows it (the header is row 1)")
    column: str = Field(description="the column as the file names it (or `site_id (form)`)")
    value: str | None
    msg: str
    severity: Literal["error", "flag"] = Field(
        "error", description="`error`: the row was refused; `flag`: booked as sent, for someone to check"
    )


class ImportAnswer(BaseModel):
    model_config = example(
        {
            "import_id": IMPORT_ID,
            "kind": "doses",
            "status": "completed",
            "dry_run": False,
            **IMPORT_COUNTS,
            "error_count": 5,
            "errors": [ROW_ERROR],
            "file_sha256": "9f2c...",
            "reason": None,
        },
        {
            "import_id": IMPORT_ID,
            "status": "running",
            "dry_run": False,
            **dict.fromkeys(IMPORT_COUNTS, 0),
            "error_count": 0,
            "errors": [],
        },
    )
    import_id: UUID | None = Field(
        description="poll GET /v1/imports/{import_id}; null for a dry run (nothing of it is stored)"
    )
    kind: Literal["doses", "tallies"] | None = Field(
        None,
        description="what the file held, told by its header: doses, or sites' daily tallies "
        "(`site_id, day, vaccine, doses`); null while a background import runs",
    )
    status: Literal["running", "completed", "failed"]
    dry_run: bool
    rows: int
    created: int
    duplicate: int = Field(description="rows already in the ledger: re-sending a file stores nothing twice")
    conflict: int = Field(description="rows whose site record is stored with other details (in `rejected`)")
    rejected: int
    error_count: int
    flag_count: int = Field(0, description="rows booked as sent and flagged (listed with the errors)")
    errors: list[ImportRowError] = Field(description="the first errors; errors.csv has them all")
    file_sha256: str | None = None
    reason: str | None = None


class ImportSubmitter(BaseModel):
    model_config = example({"principal_id": "4fdab6e0-0222-5246-a85b-2a2187841452", "role": "site"})
    principal_id: str = Field(description="the principal id of the token that sent the import")
    role: str


class ImportStatus(BaseModel):
    model_config = example(
        {
            "import_id": IMPORT_ID,
            "status": "running",
            "file_name": "tiem-bo-sung.xlsx",
            "file_sha256": "9f2c...",
            "file_size": 18_400_000,
            "unit": "TTYT Quận Ba Đình",
            "attested_by": "BS. Lê Văn Tám",
            "document_ref": "CV 123/TTYT",
            "site_id": "01-TYT-001",
            "submitter": {"principal_id": "4fdab6e0-0222-5246-a85b-2a2187841452", "role": "site"},
            "started_at": "2024-05-02T09:12:00+00:00",
            "dry_run": False,
            "resumed": 0,
            **IMPORT_COUNTS,
            "last_row": 1201,
            "read_fraction": 0.12,
            "error_count": 5,
            "errors": [ROW_ERROR],
            "reason": None,
            "finished_at": None,
        }
    )
    import_id: UUID
    status: Literal["running", "completed", "failed"]
    file_name: str
    file_sha256: str
    file_size: int
    unit: str
    attested_by: str
    document_ref: str | None
    site_id: str | None
    submitter: ImportSubmitter
    started_at: str
    dry_run: bool = Field(description="a dry run sent as a job (a large file): checked, nothing booked")
    resumed: int = Field(
        description="how many times a service took the import over from a process that stopped"
    )
    rows: int
    created: int
    duplicate: int
    conflict: int
    rejected: int
    last_row: int = Field(description="the last row saved so far")
    read_fraction: float | None = Field(description="how far through the file (progress), when known")
    error_count: int
    flag_count: int = Field(0, description="rows booked as sent and flagged (listed with the errors)")
    errors: list[ImportRowError] = Field(description="the first 100; errors.csv has them all")
    reason: str | None = Field(
        description="why a failed import stopped (send it again: nothing is stored twice)"
    )
    finished_at: str | None
