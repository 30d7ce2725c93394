"""The shapes on the wire, each with an example for /docs.

Models check structure and types; the ledger checks meaning (known vaccine, dates not in the
future, province codes ...) and names the field either way.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, SkipValidation, model_validator

PERSON_ID = "6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e"
DOSE_ID = "2b8f8c1e-5d7a-5b6c-8e9f-0a1b2c3d4e5f"


def example(*examples: dict[str, Any], forbid_extra: bool = False) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)},
                      extra="forbid" if forbid_extra else "ignore")


# --- errors --------------------------------------------------------------------------------

class FieldError(BaseModel):
    model_config = example({"loc": ["body", "administered_at"], "msg": "is in the future"})
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = example({
        "type": "https://doseledger.example/problems/unknown-vaccine", "title": "Unknown vaccine",
        "status": 422, "detail": "vaccine: unknown vaccine code or name: 'Snake Oil'",
        "errors": [{"loc": ["body", "vaccine"], "msg": "unknown vaccine code or name: 'Snake Oil'"}],
    })
    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None
    dose_id: str | None = Field(None, description="on a site-record conflict: the stored dose")
    person_id: str | None = Field(None, description="on a conflict: the person concerned")


# --- people --------------------------------------------------------------------------------

LAN = {"full_name": "Nguyễn Thị Lan", "birth_date": "1985-03-14", "sex": "female",
       "national_id": "001185012345", "phone": "0912345678", "province": "01",
       "district": "Ba Đình", "address": "12 Phố Huế"}


class PersonIn(BaseModel):
    model_config = example(LAN, forbid_extra=True)
    full_name: str = Field(description="as written, with diacritics (stored in Unicode NFC)")
    birth_date: str = Field(description="YYYY-MM-DD", json_schema_extra={"format": "date"})
    sex: Literal["male", "female", "other"] | None = None
    national_id: str | None = Field(None, description="CCCD (12 digits) or CMND (9 digits)")
    phone: str | None = Field(None, description="a contact: any number of people may share one")
    province: str = Field(description="2-digit province code, e.g. 01 Hà Nội, 79 Hồ Chí Minh")
    district: str | None = None
    address: str | None = None


class PersonRegistered(BaseModel):
    model_config = example({"person_id": PERSON_ID, "created": True, "position": 1042})
    person_id: UUID
    created: bool = Field(description="false: this national id was already registered")
    position: int | None = Field(description="store position to pass as min_position to reads")


SUMMARY = {"person_id": PERSON_ID, "full_name": "Nguyễn Thị Lan", "birth_date": "1985-03-14",
           "province": "01", "district": "Ba Đình", "status": "complete"}


class PersonSummary(BaseModel):
    model_config = example(SUMMARY)
    person_id: UUID
    full_name: str
    birth_date: str
    province: str
    district: str | None = None
    status: str


class PersonList(BaseModel):
    model_config = example({"persons": [SUMMARY]})
    persons: list[PersonSummary]


class MergeIn(BaseModel):
    model_config = example({"duplicate_person_id": "0e7d5c4b-3a29-4817-9605-f4e3d2c1b0a9",
                            "reason": "the same person registered twice by two sites"},
                           forbid_extra=True)
    duplicate_person_id: UUID
    reason: str


class Written(BaseModel):
    model_config = example({"person_id": PERSON_ID, "position": 2210})
    person_id: UUID
    position: int | None


# --- doses ---------------------------------------------------------------------------------

DOSE = {"person_id": PERSON_ID, "site_id": "01-TYT-001", "site_record_id": "REC-2021-000123",
        "vaccine": "EU/1/21/1529", "lot": "AB1234", "administered_at": "2021-08-01T09:30:00",
        "dose_number": 1}


class DoseIn(BaseModel):
    model_config = example(
        DOSE,
        {**{k: v for k, v in DOSE.items() if k != "person_id"}, "site_record_id": "REC-2021-000124",
         "person": {**LAN, "full_name": "Trần Văn Hùng", "national_id": None, "sex": "male",
                    "birth_date": "1962-05-05"}},
        forbid_extra=True)
    person_id: UUID | None = Field(None, description="an existing person; or give `person`")
    person: PersonIn | None = Field(None, description="register inline (an existing national id "
                                                      "finds its person)")
    site_id: str = Field(description="a site missing from the directory is accepted, "
                                     "and listed provisional")
    site_record_id: str = Field(description="the site's own record id: (site_id, site_record_id) "
                                            "is the dose; sent again it is a duplicate")
    vaccine: str = Field(description="EU DCC code (EU/1/20/1528) or a known name (Pfizer, Vero Cell)")
    lot: str | None = None
    administered_at: str = Field(description="ISO date or date-time; without a zone it is "
                                             "Vietnam time (UTC+7)")
    dose_number: int | None = Field(None, description="as the site counted it (the certificate "
                                                      "computes its own)")


class DoseRecorded(BaseModel):
    model_config = example({"dose_id": DOSE_ID, "person_id": PERSON_ID, "position": 1043,
                            "duplicate": False})
    dose_id: UUID
    person_id: UUID
    position: int | None
    duplicate: bool


class DoseBatchIn(BaseModel):
    model_config = example({"doses": [DOSE, {**DOSE, "site_record_id": "REC-2021-000125",
                                             "administered_at": "2021-08-29"}]}, forbid_extra=True)
    # Items are checked one by one in the endpoint, so one bad item cannot sink the batch.
    doses: list[SkipValidation[DoseIn]] = Field(min_length=1, max_length=1000)


BATCH_RESULTS = [
    {"index": 0, "status": "created", "dose_id": DOSE_ID, "person_id": PERSON_ID, "position": 1044},
    {"index": 1, "status": "rejected",
     "errors": [{"loc": ["body", "doses", 1, "administered_at"], "msg": "is in the future"}]},
]


class DoseBatchItem(BaseModel):
    model_config = example(*BATCH_RESULTS)
    index: int
    status: Literal["created", "duplicate", "conflict", "rejected"]
    dose_id: UUID | None = None
    person_id: UUID | None = None
    position: int | None = None
    errors: list[FieldError] | None = None


class DoseBatchOut(BaseModel):
    model_config = example({
        "results": BATCH_RESULTS,
        "counts": {"created": 1, "duplicate": 0, "conflict": 0, "rejected": 1}})
    results: list[DoseBatchItem]
    counts: dict[str, int]


class AmendIn(BaseModel):
    model_config = example({"lot": "AB1243", "reason": "lot number mistyped"}, forbid_extra=True)
    vaccine: str | None = None
    lot: str | None = None
    administered_at: str | None = None
    site_id: str | None = None
    dose_number: int | None = None
    reason: str


class VoidIn(BaseModel):
    model_config = example({"reason": "entered in error: the same dose was entered twice"},
                           forbid_extra=True)
    reason: str


class DoseChanged(BaseModel):
    model_config = example({"dose_id": DOSE_ID, "person_id": PERSON_ID, "position": 1050})
    dose_id: UUID
    person_id: UUID
    position: int | None


# --- certificates ---------------------------------------------------------------------------

CERTIFICATE_DOSE = {"dose_id": DOSE_ID, "dose_number": 1, "booster": False, "vaccine": "EU/1/21/1529",
                    "vaccine_name": "Vaxzevria", "lot": "AB1234",
                    "administered_at": "2021-08-01T09:30:00+07:00", "site_id": "01-TYT-001"}


class CertificateDose(BaseModel):
    model_config = example(CERTIFICATE_DOSE)
    dose_id: UUID
    dose_number: int = Field(description="computed from the valid doses in administered order")
    booster: bool | None = None
    vaccine: str
    vaccine_name: str | None = None
    lot: str | None = None
    administered_at: str
    site_id: str


class Certificate(BaseModel):
    model_config = example({
        "person_id": PERSON_ID, "certificate_id": "c7a1d2e3-f4a5-5b6c-8d7e-9f0a1b2c3d4e", "version": 3,
        "status": "complete", "issued_at": "2021-08-29T10:02:11+07:00",
        "doses": [CERTIFICATE_DOSE],
        "revoked": ["a1b2c3d4-e5f6-5a7b-8c9d-0e1f2a3b4c5d"], "merged_into": None, "province": "01"})
    person_id: UUID
    certificate_id: str | None = Field(
        description="null once the record was merged into another (`merged_into`): the survivor's "
                    "certificate is the one that counts")
    version: int
    status: str
    issued_at: str | None = None
    doses: list[CertificateDose]
    revoked: list[str] = Field(description="ids of the certificates this one supersedes")
    merged_into: UUID | None = None
    province: str | None = None
    links: dict[str, str] | None = Field(
        None, description="auditor and admin tokens only: `audit`, the history as a web page "
                          "(/audit/persons/{id}); `history`, the same as JSON")


# --- statistics -----------------------------------------------------------------------------

GROUPS = ("date", "province", "site_id", "vaccine", "dose_number")


COUNT_ROW = {"date": "2021-08-01", "province": "01", "doses": 1520}


class DoseCountRow(BaseModel):
    model_config = example(COUNT_ROW)
    date: str | None = None
    province: str | None = None
    site_id: str | None = None
    vaccine: str | None = None
    dose_number: int | None = None
    doses: int


class DoseCounts(BaseModel):
    model_config = example({"rows": [COUNT_ROW], "total": 1520})
    rows: list[DoseCountRow]
    total: int


COVERAGE_ROW = {"province": "01", "status": "complete", "people": 804}


class CoverageRow(BaseModel):
    model_config = example(COVERAGE_ROW)
    province: str
    status: str
    people: int


class Coverage(BaseModel):
    model_config = example({"rows": [COVERAGE_ROW], "total": 804})
    rows: list[CoverageRow]
    total: int


# --- sites ----------------------------------------------------------------------------------

class SiteIn(BaseModel):
    model_config = example({"site_id": "01-TYT-042", "name": "Trạm Y tế phường Kim Mã",
                            "kind": "official", "province": "01", "district": "Ba Đình"},
                           forbid_extra=True)
    site_id: str
    name: str
    kind: Literal["official", "mobile"]
    province: str
    district: str | None = None


class ReviewIn(BaseModel):
    model_config = example({"decision": "approved", "kind": "mobile",
                            "name": "Đội tiêm lưu động Ba Đình"},
                           {"decision": "rejected", "reason": "not a vaccination site"},
                           forbid_extra=True)
    decision: Literal["approved", "rejected"]
    kind: Literal["official", "mobile"] | None = None
    name: str | None = None
    province: str | None = None
    district: str | None = None
    reason: str | None = Field(None, description="required to reject")


class SiteWritten(BaseModel):
    model_config = example({"site_id": "01-TYT-042", "position": 3001})
    site_id: str
    position: int | None


SITE = {"site_id": "01-UNLISTED-417", "name": None, "province": "01", "district": None,
        "status": "provisional", "review_status": "pending"}


class SiteOut(BaseModel):
    model_config = example(SITE)
    site_id: str
    name: str | None = None
    province: str | None = None
    district: str | None = None
    status: str = Field(description="the kind: provisional, official or mobile")
    review_status: str | None = Field(None, description="pending, approved or rejected")


class SiteList(BaseModel):
    model_config = example({"sites": [SITE]})
    sites: list[SiteOut]


# --- retro imports --------------------------------------------------------------------------

IMPORT_ID = "0b7e6a2c-3f1d-4e8a-9c5b-7d2e1f0a4b6c"
ROW_ERROR = {"row": 17, "column": "Ngày tiêm", "value": "31/02/2021", "msg": "is not a date"}
IMPORT_COUNTS = {"rows": 1200, "created": 1180, "duplicate": 15, "conflict": 0, "rejected": 5}


class ImportRowError(BaseModel):
    model_config = example(ROW_ERROR)
    row: int = Field(description="the row number as the spreadsheet shows it (the header is row 1)")
    column: str = Field(description="the column as the file names it (or `site_id (form)`)")
    value: str | None
    msg: str


class ImportAnswer(BaseModel):
    model_config = example(
        {"import_id": IMPORT_ID, "status": "completed", "dry_run": False, **IMPORT_COUNTS,
         "error_count": 5, "errors": [ROW_ERROR], "file_sha256": "9f2c...", "reason": None},
        {"import_id": IMPORT_ID, "status": "running", "dry_run": False,
         **dict.fromkeys(IMPORT_COUNTS, 0), "error_count": 0, "errors": []})
    import_id: UUID | None = Field(description="poll GET /v1/imports/{import_id}; null for a dry run "
                                               "(nothing of it is stored)")
    status: Literal["running", "completed", "failed"]
    dry_run: bool
    rows: int
    created: int
    duplicate: int = Field(description="rows already in the ledger: re-sending a file stores nothing twice")
    conflict: int = Field(description="rows whose site record is stored with other details (in `rejected`)")
    rejected: int
    error_count: int
    errors: list[ImportRowError] = Field(description="the first errors; errors.csv has them all")
    file_sha256: str | None = None
    reason: str | None = None


class ImportSubmitter(BaseModel):
    model_config = example({"principal_id": "4fdab6e0-0222-5246-a85b-2a2187841452", "role": "site"})
    principal_id: str = Field(description="the principal id of the token that sent the import")
    role: str


class ImportStatus(BaseModel):
    model_config = example(
        {"import_id": IMPORT_ID, "status": "running", "file_name": "tiem-bo-sung.xlsx",
         "file_sha256": "9f2c...", "file_size": 18_400_000, "unit": "TTYT Quận Ba Đình",
         "attested_by": "BS. Lê Văn Tám", "document_ref": "CV 123/TTYT", "site_id": "01-TYT-001",
         "submitter": {"principal_id": "4fdab6e0-0222-5246-a85b-2a2187841452", "role": "site"},
         "started_at": "2024-05-02T09:12:00+00:00", **IMPORT_COUNTS, "last_row": 1201,
         "read_fraction": 0.12, "error_count": 5, "errors": [ROW_ERROR], "reason": None,
         "finished_at": None})
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
    rows: int
    created: int
    duplicate: int
    conflict: int
    rejected: int
    last_row: int = Field(description="the last row saved so far")
    read_fraction: float | None = Field(description="how far through the file (progress), when known")
    error_count: int
    errors: list[ImportRowError] = Field(description="the first 100; errors.csv has them all")
    reason: str | None = Field(description="why a failed import stopped (send it again: nothing "
                                           "is stored twice)")
    finished_at: str | None
# --- correction requests ------------------------------------------------------------------

REQUEST_ID = "3d6f0b1e-2c4a-4f8e-9b7d-5a1c2e3f4a5b"
MISSING_CLAIM = {"vaccine": "AstraZeneca", "administered_at": "2021-09-20", "site_id": "79-TYT-001"}


class CorrectionIn(BaseModel):
    model_config = example(
        {"person_id": PERSON_ID, "kind": "missing_dose", "claim": MISSING_CLAIM,
         "evidence_ref": "photo of the vaccination card, upload 8812", "contact": "0912345678"},
        {"person_id": PERSON_ID, "kind": "wrong_dose",
         "claim": {"dose_id": DOSE_ID, "changes": {"vaccine": "Pfizer"}}},
        {"person_id": PERSON_ID, "kind": "wrong_dose", "claim": {"dose_id": DOSE_ID, "not_given": True}},
        {"person_id": PERSON_ID, "kind": "wrong_details", "claim": {"changes": {"birth_date": "1985-04-13"}}},
        forbid_extra=True)
    person_id: UUID
    kind: Literal["missing_dose", "wrong_dose", "wrong_details"]
    claim: dict[str, Any] = Field(description="missing_dose: {vaccine, administered_at, site_id, lot?, "
                                              "dose_number?}; wrong_dose: {dose_id, changes} or "
                                              "{dose_id, not_given: true}; wrong_details: {changes}")
    evidence_ref: str | None = Field(None, description="where the evidence is (an upload, a paper file)")
    contact: str | None = Field(None, description="how to answer the citizen")
    channel: str | None = Field(None, description="how it came in (portal, hotline, site ...); "
                                                  "default: the token's role")


class CorrectionFiled(BaseModel):
    model_config = example(
        {"request_id": REQUEST_ID, "linked": False, "code": "K7M2QX9P", "filed_at": "2021-10-02T09:12:40+07:00",
         "age_days": 0.0, "position": 5120},
        {"request_id": REQUEST_ID, "linked": True, "code": None, "filed_at": "2021-10-02T09:12:40+07:00",
         "age_days": 12.4, "position": 6001})
    request_id: UUID
    linked: bool = Field(description="true: the same claim is open already; this filing joined it")
    code: str | None = Field(description="the verification code for the status check, shown once "
                                         "(none when linked: the first filing's code stands)")
    filed_at: str
    age_days: float = Field(description="days since the (first) filing")
    position: int | None


class AssignIn(BaseModel):
    model_config = example({"province": "79"}, {"site": "79-TYT-001"}, forbid_extra=True)
    province: str | None = None
    site: str | None = None

    @model_validator(mode="after")
    def one_assignee(self) -> AssignIn:
        if (self.province is None) == (self.site is None):
            raise ValueError("give exactly one of province or site")
        return self


class ResolveIn(BaseModel):
    model_config = example({"outcome": "accepted", "reason": "the site's paper log confirms the dose"},
                           {"outcome": "rejected", "reason": "no such dose in the site's log that day"},
                           forbid_extra=True)
    outcome: Literal["accepted", "rejected"]
    reason: str = Field(description="told to the citizen with the outcome")


class CorrectionWritten(BaseModel):
    model_config = example({"request_id": REQUEST_ID, "person_id": PERSON_ID, "position": 6120})
    request_id: UUID
    person_id: UUID
    position: int | None


class CorrectionStatus(BaseModel):
    """What a citizen may learn with the request id and code: no personal data."""

    model_config = example({"request_id": REQUEST_ID, "status": "rejected", "kind": "missing_dose",
                            "filed_at": "2021-10-02T09:12:40+07:00", "outcome": "rejected",
                            "reason": "no such dose in the site's log that day", "repeats": 1})
    request_id: UUID
    status: str = Field(description="open, assigned, accepted or rejected")
    kind: str
    filed_at: str
    outcome: str | None = None
    reason: str | None = None
    repeats: int = Field(description="how many times the same claim was filed again while open")


CORRECTION_ROW = {"request_id": REQUEST_ID, "person_id": PERSON_ID, "province": "01",
                  "site_id": "79-TYT-001", "kind": "missing_dose",
                  "claim": {**MISSING_CLAIM, "vaccine": "EU/1/21/1529", "lot": None, "dose_number": None},
                  "status": "assigned", "assignee": {"province": "79"}, "channel": "portal",
                  "evidence_ref": "photo of the vaccination card, upload 8812", "contact": "0912345678",
                  "filed_at": "2021-10-02T09:12:40+07:00", "repeats": 2, "outcome": None, "reason": None,
                  "resolved_at": None, "age_days": 9.3, "overdue": True}


class CorrectionRow(BaseModel):
    model_config = example(CORRECTION_ROW)
    request_id: UUID
    person_id: UUID
    province: str = Field(description="the person's province")
    site_id: str | None = Field(None, description="the assigned site, else the site a missing "
                                                  "dose claim names")
    kind: str
    claim: dict[str, Any]
    status: str
    assignee: dict[str, str] | None = None
    channel: str
    evidence_ref: str | None = None
    contact: str | None = None
    filed_at: str
    repeats: int
    outcome: str | None = None
    reason: str | None = None
    resolved_at: str | None = None
    age_days: float = Field(description="filing to now, or to the resolution")
    overdue: bool = Field(description="unresolved and older than the overdue limit")


class CorrectionList(BaseModel):
    model_config = example({"requests": [CORRECTION_ROW], "overdue_after_days": 7.0})
    requests: list[CorrectionRow]
    overdue_after_days: float


OPEN_GROUP = {"province": "79", "site_id": "79-TYT-001", "open": 4, "overdue": 1,
              "oldest_filed_at": "2021-09-24T08:00:00+07:00", "oldest_age_days": 17.1}


class OpenGroup(BaseModel):
    model_config = example(OPEN_GROUP)
    province: str
    site_id: str | None = None
    open: int
    overdue: int
    oldest_filed_at: str
    oldest_age_days: float


class CorrectionSummary(BaseModel):
    model_config = example({"open": [OPEN_GROUP], "overdue": 1, "resolved": {"accepted": 31, "rejected": 9},
                            "resolution_days": {"count": 40, "median": 3.2, "p90": 11.8},
                            "overdue_after_days": 7.0})
    open: list[OpenGroup] = Field(description="unresolved requests per province and site, with age")
    overdue: int
    resolved: dict[str, int] = Field(description="resolved requests by outcome")
    resolution_days: dict[str, float | int | None] = Field(
        description="count, median and p90 of the days from filing to resolution")
    overdue_after_days: float


# --- operations -----------------------------------------------------------------------------

PROJECTION = {"name": "certificates", "position": 120480, "head": 120482, "lag_events": 2,
              "lag_seconds": 0.08, "state": "running", "error": None}


class ProjectionStatus(BaseModel):
    model_config = example(PROJECTION)
    name: str
    position: int | None
    head: int | None
    lag_events: int | None
    lag_seconds: float | None
    state: str
    error: str | None = None


class Projections(BaseModel):
    model_config = example({"projections": [PROJECTION]})
    projections: list[ProjectionStatus]


class Health(BaseModel):
    model_config = example({"status": "ok"})
    status: str


# --- audit ----------------------------------------------------------------------------------
# replay/ answers in plain JSON; these models document its shapes and pass on whatever else
# an answer carries (extra="allow"), so the wire is exactly what replay says.

def audit(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)}, extra="allow")


ACTOR = {"principal_id": "0b6c1f0e-6b0e-5f43-9a53-3f5d1b2c4e6f", "role": "site"}
SOURCE = {"kind": "site", "site_id": "01-TYT-001", "site_record_id": "A1"}
AUDIT_EVENT = {"position": 7, "version": 3, "type": "DoseAmended",
               "recorded_at": "2021-08-02T09:15:00+07:00", "actor": ACTOR, "source": SOURCE,
               "data": {"dose_id": DOSE_ID, "changes": {"lot": "FB9999"}, "reason": "typo"},
               "changes": {"doses": {"changed": [{"dose_id": DOSE_ID,
                                                  "fields": {"lot": {"from": "FA1234", "to": "FB9999"}}}]}},
               "state": {"version": 3, "status": "partial", "doses": ["..."]}}


class AuditEvent(BaseModel):
    model_config = audit(AUDIT_EVENT)
    position: int | None = Field(description="the event's place in the store's log")
    version: int = Field(description="the event's place in the person's stream")
    type: str
    recorded_at: str | None = Field(description="when the ledger stored it (not when a dose was given)")
    actor: dict[str, Any] | None = Field(description="who caused it: principal and role")
    source: dict[str, Any] | None = Field(description="through what: site record, import row, request")
    data: dict[str, Any] | None
    changes: dict[str, Any] | None = Field(None, description="what it changed, field by field")
    state: dict[str, Any] | None = Field(description="the person after it: doses numbered, status")


class AuditHistory(BaseModel):
    model_config = audit({"person_id": PERSON_ID, "events": [AUDIT_EVENT]})
    person_id: UUID
    events: list[AuditEvent]


POINT = {"version": 3, "position": 7, "recorded_at": "2021-08-02T09:15:00+07:00"}


class AuditState(BaseModel):
    model_config = audit({"person_id": PERSON_ID, "as_of": POINT, "state": AUDIT_EVENT["state"]})
    person_id: UUID
    as_of: dict[str, Any]
    state: dict[str, Any] | None


class AuditDiff(BaseModel):
    model_config = audit({"person_id": PERSON_ID, "from": {"version": 0, "position": None,
                                                             "recorded_at": None},
                          "to": POINT, "changes": AUDIT_EVENT["changes"], "events": ["..."]})
    person_id: UUID
    changes: dict[str, Any]
    events: list[dict[str, Any]]


class AuditExplanation(BaseModel):
    model_config = audit({"person_id": PERSON_ID, "version": 3, "status": "partial",
                          "merged_into": None, "lines": [{"dose_id": DOSE_ID, "dose_number": 1,
                                                          "events": [{"role": "recorded", **ACTOR}]}],
                          "removed": []})
    person_id: UUID
    status: str | None
    lines: list[dict[str, Any]] = Field(description="each certificate line and the events behind it")
    removed: list[dict[str, Any]] = Field(description="voided doses and the events that removed them")


class AuditVerdict(BaseModel):
    model_config = audit({"person_id": PERSON_ID, "consistent": False, "version": 3,
                          "head_position": 7, "checked": ["integrity", "fold", "ledger", "certificate"],
                          "differences": [{"kind": "integrity", "finding": "altered", "version": 2,
                                           "position": 5, "detail": "..."}]})
    person_id: UUID
    consistent: bool
    differences: list[dict[str, Any]]


ACCESS_READ = {"position": 120490, "recorded_at": "2021-09-01T03:00:00+00:00",
               "principal_id": ACTOR["principal_id"], "role": "auditor", "person_ids": [PERSON_ID],
               "what": "audit.history"}


class AccessRead(BaseModel):
    model_config = example(ACCESS_READ)
    position: int
    recorded_at: str
    principal_id: str
    role: str
    person_ids: list[str]
    what: str = Field(description="what was read, e.g. certificate, audit.history, audit.page")


class AccessLog(BaseModel):
    model_config = example({"reads": [ACCESS_READ], "next_after": None})
    reads: list[AccessRead]
    next_after: int | None = Field(description="pass as `after` for the next page; null at the end")
