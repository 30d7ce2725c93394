"""Audit on the wire: history, state as of, diff, explanation, verdict, the access log.

replay/ answers in plain JSON; these models document its shapes and pass on whatever else an
answer carries (extra="allow"), so the wire is exactly what replay says.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.models import DOSE_ID, PERSON_ID, example


def audit(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)}, extra="allow")


ACTOR = {"principal_id": "0b6c1f0e-6b0e-5f43-9a53-3f5d1b2c4e6f", "role": "site"}
SOURCE = {"kind": "site", "site_id": "01-TYT-001", "site_record_id": "A1"}
AUDIT_EVENT = {
    "position": 7,
    "version": 3,
    "type": "DoseAmended",
    "recorded_at": "2021-08-02T09:15:00+07:00",
    "actor": ACTOR,
    "source": SOURCE,
    "data": {"dose_id": DOSE_ID, "changes": {"lot": "FB9999"}, "reason": "typo"},
    "changes": {
        "doses": {"changed": [{"dose_id": DOSE_ID, "fields": {"lot": {"from": "FA1234", "to": "FB9999"}}}]}
    },
    "state": {"version": 3, "status": "partial", "doses": ["..."]},
}


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
    model_config = audit(
        {
            "person_id": PERSON_ID,
            "from": {"version": 0, "position": None, "recorded_at": None},
            "to": POINT,
            "changes": AUDIT_EVENT["changes"],
            "events": ["..."],
        }
    )
    person_id: UUID
    changes: dict[str, Any]
    events: list[dict[str, Any]]


class AuditExplanation(BaseModel):
    model_config = audit(
        {
            "person_id": PERSON_ID,
            "version": 3,
            "status": "partial",
            "merged_into": None,
            "lines": [{"dose_id": DOSE_ID, "dose_number": 1, "events": [{"role": "recorded", **ACTOR}]}],
            "removed": [],
        }
    )
    person_id: UUID
    status: str | None
    lines: list[dict[str, Any]] = Field(description="each certificate line and the events behind it")
    removed: list[dict[str, Any]] = Field(description="voided doses and the events that removed them")


class AuditVerdict(BaseModel):
    model_config = audit(
        {
            "person_id": PERSON_ID,
            "consistent": False,
            "version": 3,
            "head_position": 7,
            "checked": ["integrity", "fold", "ledger", "certificate"],
            "differences": [
                {"kind": "integrity", "finding": "altered", "version": 2, "position": 5, "detail": "..."}
            ],
        }
    )
    person_id: UUID
    consistent: bool
    differences: list[dict[str, Any]]


ACCESS_READ = {
    "position": 120490,
    "read_at": "2021-09-01T03:00:00+00:00",
    "principal_id": ACTOR["principal_id"],
    "role": "auditor",
    "person_id": PERSON_ID,
    "what": "audit.history",
    "client": "10.1.2.3",
}


class AccessRead(BaseModel):
    model_config = example(ACCESS_READ)
    position: int = Field(description="the row's place in the access log: pass as `since_position`")
    read_at: str = Field(description="when the read was made (UTC)")
    principal_id: str
    role: str
    person_id: str = Field(description="the person read; a read of several people is a row each")
    what: str = Field(description="what was read, e.g. certificate, persons.look_up, audit.history")
    client: str | None = Field(description="the client's address, when known")


class AccessLog(BaseModel):
    model_config = example({"reads": [ACCESS_READ], "next_since_position": None, "until_position": 1})
    reads: list[AccessRead] = Field(description="oldest first")
    next_since_position: int | None = Field(
        description="pass as `since_position` for the next page; null: no more rows up to `until_position`"
    )
    until_position: int = Field(description="the end of this paging: pass it with each next page")


REPORTED_READ = {k: ACCESS_READ[k] for k in ("read_at", "role", "principal_id", "what")}


class ReportedRead(BaseModel):
    model_config = example(REPORTED_READ)
    read_at: str
    role: str
    principal_id: str
    what: str


READER = {
    "principal_id": ACTOR["principal_id"],
    "role": "auditor",
    "reads": 2,
    "first": "2021-09-01T03:00:00+00:00",
    "last": "2021-09-02T03:00:00+00:00",
}


class Reader(BaseModel):
    model_config = example(READER)
    principal_id: str
    role: str
    reads: int
    first: str
    last: str


class AccessReport(BaseModel):
    model_config = example({"person_id": PERSON_ID, "reads": [REPORTED_READ], "readers": [READER]})
    person_id: UUID
    reads: list[ReportedRead] = Field(description="every read of the person's record, oldest first")
    readers: list[Reader] = Field(description="each principal that read it: how often, first and last")
