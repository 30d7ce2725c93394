"""What the ledger holds, read back for the feeds: a person's doses with their site records, and
a site's records page by page in ledger order.

Read from the event store itself, not a view: a site reconciling what it sent, or a FHIR client
reading a record it has just posted, sees every stored dose at once. Each read is one working
set: the person and every site record they name in one query (a site's page: its people too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ledger.person import Person
from usecases.application import DoseLedger
from usecases.people import person_in
from usecases.working_set import SiteRecordKey

DOSE_RECORDED = "ledger.person:Person.DoseRecorded"
SCAN_CHUNK = 2000  # notifications read per query while a page is gathered
SCAN_LIMIT = 10_000  # recordings one page steps over (~0.5 s) before it answers with what it has


@dataclass(frozen=True)
class PersonDoses:
    person: Person
    site_records: dict[str, SiteRecordKey]  # by dose id


def person_doses(ledger: DoseLedger, person_id: UUID) -> PersonDoses:
    """The person (PersonNotFound if none) and the site record of each of their doses."""
    ws = ledger.decisions.working_set()
    person = person_in(ws, person_id, allow_merged=True, allow_erased=True)
    dose_ids = [UUID(d) for d in person.doses]
    ws.prefetch_site_records(dose_ids)
    records = {str(i): r for i in dose_ids if (r := ws.site_record(i)) is not None}
    return PersonDoses(person, records)


@dataclass(frozen=True)
class SiteDose:
    position: int  # where the dose's recording sits in the ledger: the page's cursor
    person_id: str  # who holds the dose now (a merge moves it to the survivor)
    site_record_id: str
    dose: dict[str, Any]  # the holder's dose dict: amended fields, voided or not


@dataclass(frozen=True)
class SitePage:
    doses: list[SiteDose]
    next_position: int  # resume with since_position=this
    more: bool  # the ledger held more when the page was read


def site_doses(ledger: DoseLedger, site_id: str, since_position: int, limit: int) -> SitePage:
    """The doses of the site's records recorded after `since_position`, in ledger order, at most
    `limit`. Steps over at most SCAN_LIMIT other recordings: a quiet site's page may then come
    back short, its cursor moved on (`more` says to ask again)."""
    head = ledger.head()
    found: list[tuple[int, UUID, Any]] = []
    cursor = since_position
    scanned = 0
    while cursor < head and len(found) < limit and scanned < SCAN_LIMIT:
        notifications = ledger.recorder.select_notifications(
            cursor, SCAN_CHUNK, stop=head, topics=[DOSE_RECORDED], inclusive_of_start=False
        )
        if not notifications:
            cursor = head
            break
        for notification in notifications:
            scanned += 1
            cursor = notification.id
            event = ledger.mapper.to_domain_event(notification)
            if event.site_id == site_id:
                found.append((notification.id, event.originator_id, event.dose_id))
                if len(found) == limit:
                    break
    ws = ledger.decisions.working_set()
    ws.prefetch({person for _, person, _ in found})
    ws.prefetch_site_records(dose for _, _, dose in found)
    doses = []
    for position, recorded_by, dose_id in found:
        record = ws.site_record(dose_id)
        holder = person_in(
            ws, record.person_id if record else recorded_by, follow_merges=True, allow_erased=True
        )
        dose = holder.doses.get(str(dose_id))
        if dose is None or record is None:  # not reached: a recorded dose has its claim, and merges carry it
            continue
        doses.append(SiteDose(position, str(holder.id), record.site_record_id, dose))
    return SitePage(doses, cursor, cursor < head)
