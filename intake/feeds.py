"""A standard-neutral immunization report, and its booking into the ledger.

An HL7 v2 VXU, a CDC CVRS flat-file row and a FHIR Immunization each become a `FeedRecord`;
`book` checks them and records them through the ledger's batch path, so the same dose sent
in any of the three standards gives the same events (the source names the standard).

Every field of a record remembers where it came from in the sender's terms (`where`: HL7
"RXA-5", CVRS "cvx", FHIR "Immunization.vaccineCode"), so that every issue names what the
sender must fix, and no issue carries a personal value.

Rules of booking, the same for every standard:
- The dose id is the site record's (site id, site record id), as for the JSON API: the same
  record twice books nothing new; the same record with other content is refused (amend it).
- A refusal (completion RE), a dose not administered (NA) or partially administered (PA) is
  never a dose: the ledger has no event for a refusal, so it books nothing ("no dose") and
  says so in a warning.
- The person's province must be a Vietnamese province (the registration requires one): the
  record's own, else the province of the site in the directory, else `default_province`;
  with none of them the record is refused naming the address field.
- A vaccine code goes through intake's shared code tables (`intake/codes.py`); CDC's test
  placeholders CVX 900-902 only when `test_codes` is set (see `codes.cvx_placeholders`).
- A person is the national id's; else, with `match_identity` (as a retro import), the one
  person with the same name, birth date and phone (several: refused); else each new site
  record registers its person, as the JSON API does.
- A refused record stores nothing; a batch of good records is saved in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from uuid import UUID

from intake import codes
from ledger import rules
from ledger.errors import DoseAlreadyVoided, DoseNotFound, InvalidValue, LedgerError
from ledger.keys import dose_id_for
from ledger.recording import DoseReport, dose_report
from ledger.values import Actor, DoseStatus
from usecases.application import DoseLedger

Action = Literal["record", "amend", "void"]
Severity = Literal["error", "warning"]

BOOKED = "booked"
ALREADY_BOOKED = "already booked"
REFUSED = "refused"
FLAGGED = "flagged"  # booked, with warnings the sender should look at
NO_DOSE = "no dose"  # a refusal or a dose not given: nothing to book
STATUSES = (BOOKED, ALREADY_BOOKED, REFUSED, FLAGGED, NO_DOSE)

ACTIONS = ("record", "amend", "void")
COMPLETIONS = ("CP", "RE", "NA", "PA")
NOT_GIVEN = {"RE": "a refusal", "NA": "not administered", "PA": "partially administered"}
CODE_SYSTEMS = ("CVX", "EU")  # EU: the catalog's own codes (EU DCC value set) or names

# A ledger error's field → the FeedRecord field it came from (then `where` names it).
_FIELD_OF = {
    "site_id": "site_id",
    "site_record_id": "site_record_id",
    "vaccine": "vaccine_code",
    "administered_at": "administered_on",
    "lot": "lot",
    "person": "full_name",  # several people match the name, birth date and phone
    "person.full_name": "full_name",
    "person.birth_date": "birth_date",
    "person.sex": "sex",
    "person.national_id": "national_id",
    "person.phone": "phone",
    "person.province": "province",
    "person.district": "district",
    "person.address": "address",
    "national_id": "national_id",
    "dose_id": "site_record_id",
    "person_id": "person_id",
}


@dataclass(frozen=True)
class FeedIssue:
    """What is wrong with a record: where (in the sender's terms), why, and how bad."""

    where: str
    reason: str
    severity: Severity = "error"
    # what kind of fault, for a standard's error codes (HL7 table 0357): missing | invalid |
    # unknown-code | malformed | scope | conflict
    kind: str = "invalid"


@dataclass(frozen=True)
class FeedRecord:
    """One immunization as a sender reported it, in no standard's shape.

    Dates are ISO (`YYYY-MM-DD`, or a date-time for `administered_on`) or None when missing;
    a value the reader could not understand is left None with an issue in `found`.
    """

    message_id: str  # the sender's id of the message, row or resource
    standard: str  # "hl7v2", "cvrs", "fhir": the source of the events names it
    sender: str | None  # the sending facility as sent
    # the person
    full_name: str | None
    birth_date: str | None
    sex: str | None  # male | female | other | None
    identifiers: tuple[tuple[str, str], ...] = ()  # (system, value): the sender's ids of them
    national_id: str | None = None
    phone: str | None = None
    address: str | None = None
    province: str | None = None  # a Vietnamese province code or name, if the sender gave one
    district: str | None = None
    # the dose
    action: Action = "record"
    site_id: str | None = None
    site_name: str | None = None
    site_record_id: str | None = None
    vaccine_code: str | None = None
    code_system: str = "CVX"
    administered_on: str | None = None
    lot: str | None = None
    historical: bool = False  # reported from another record, not administered by the sender
    completion: str = "CP"
    refusal_reason: str | None = None
    performer: str | None = None
    # a person the ledger already holds (FHIR's `Patient/<person id>`): the dose is theirs, and
    # the person's fields above are not needed
    person_id: UUID | None = None
    # fields kept as sent in the events' source, so that a read in the same standard gives
    # them back (FHIR: the CVX code of several for one product, the performing facility's name)
    echoed: tuple[str, ...] = ()
    # for each field above, where it came from in the sender's terms
    where: dict[str, str] = field(default_factory=dict, hash=False)
    # what the reader found wrong already (a malformed value, a segment missing)
    found: tuple[FeedIssue, ...] = ()

    def at(self, name: str) -> str:
        """Where a field came from, in the sender's terms (the field's name when not known)."""
        return self.where.get(name, name)


@dataclass(frozen=True)
class Outcome:
    """What became of one record."""

    status: str  # one of STATUSES
    issues: tuple[FeedIssue, ...] = ()
    dose_id: UUID | None = None
    person_id: UUID | None = None
    position: int | None = None

    @property
    def errors(self) -> tuple[FeedIssue, ...]:
        return tuple(i for i in self.issues if i.severity == "error")


class Refused(Exception):
    """A record that cannot be booked, with every issue found."""

    def __init__(self, issues: Sequence[FeedIssue]):
        super().__init__("; ".join(f"{i.where}: {i.reason}" for i in issues))
        self.issues = tuple(issues)


def book(
    ledger: DoseLedger,
    records: Iterable[FeedRecord],
    actor: Actor,
    *,
    allowed_sites: Sequence[str] | None = None,
    default_province: str | None = None,
    test_codes: bool = False,
    dry_run: bool = False,
    match_identity: bool = False,
) -> list[Outcome]:
    """Check and book records, one outcome per record, in order.

    allowed_sites: a site principal's sites; a record for any other site is refused.
    default_province: the people's province when neither the record nor its site gives one.
    test_codes: accept CDC's placeholder CVX codes 900-902 (test data only).
    match_identity: a person without a national id is the one already registered with the same
    name, birth date and phone (a FHIR bundle's Patient with several Immunizations is one person).
    Consecutive new records are saved in one transaction; amendments and voids one by one.
    """
    records = list(records)
    outcomes: list[Outcome | None] = [None] * len(records)
    pending: list[tuple[int, DoseReport]] = []

    def flush() -> None:
        if not pending:
            return
        decided = ledger.record_reports(
            [r for _, r in pending], [actor] * len(pending), match_identity=match_identity, dry_run=dry_run
        )
        for (n, _), result in zip(pending, decided, strict=True):
            outcomes[n] = _recorded(records[n], result)
        pending.clear()

    provinces: dict[str, str | None] = {}  # a site's province, read once per batch
    for n, record in enumerate(records):
        try:
            checked = _check(ledger, record, allowed_sites, default_province, test_codes, provinces)
        except Refused as refused:
            outcomes[n] = Outcome(REFUSED, refused.issues)
            continue
        if checked is None:
            warnings = tuple(i for i in record.found if i.severity == "warning")
            outcomes[n] = Outcome(NO_DOSE, (*warnings, _not_given(record)))
            continue
        told = [f"{i.where}: {i.reason}" for i in record.found if i.severity == "warning"]
        if isinstance(checked, DoseReport) and told:
            # kept with the dose, so that an audit or a review sees what the sender was told
            checked = replace(checked, source={**checked.source, "warnings": told})
        dose_id = checked if isinstance(checked, UUID) else checked.dose_id
        if record.action != "record" and any(r.dose_id == dose_id for _, r in pending):
            flush()  # it changes a record of this very batch: that one is saved first
        if isinstance(checked, DoseReport) and (record.action == "record" or not _known(ledger, dose_id)):
            pending.append((n, checked))  # an amendment of a record never received is its first report
            continue
        flush()  # keep the order: what came before an amendment or void is saved before it
        outcomes[n] = _change(ledger, record, checked, actor, dry_run)
    flush()
    return [o for o in outcomes if o is not None]


def source_of(record: FeedRecord) -> dict[str, Any]:
    """What the events say they came from: the standard, the message and the site record."""
    source: dict[str, Any] = {
        "kind": "feed",
        "standard": record.standard,
        "message_id": record.message_id,
        "site_id": record.site_id,
        "site_record_id": record.site_record_id,
    }
    if record.historical:
        source["historical"] = True
    for name in record.echoed:
        if getattr(record, name, None) is not None:
            source[name] = getattr(record, name)
    return source


def vaccine_of(record: FeedRecord, *, test_codes: bool = False) -> str:
    """The catalog code of a record's vaccine; Refused naming the code's field if none."""
    where = record.at("vaccine_code")
    code = (record.vaccine_code or "").strip()
    if not code:
        raise Refused([FeedIssue(where, "the vaccine code is missing", kind="missing")])
    system = record.code_system.upper()
    if system == "CVX":
        found = codes.cvx().get(code)
        if found is None and code in codes.cvx_placeholders():
            if not test_codes:
                reason = f"CVX {code} is a CDC test placeholder, not a vaccine; send the product's CVX code"
                raise Refused([FeedIssue(where, reason, kind="unknown-code")])
            found = codes.cvx_placeholders()[code]
        if found is None:
            reason = f"CVX {code} is not a COVID-19 vaccine the ledger knows"
            raise Refused([FeedIssue(where, reason, kind="unknown-code")])
        return found
    if system == "EU":
        try:
            return rules.vaccine(code).code
        except LedgerError:
            reason = f"{code!r} is not a vaccine of the catalog"
            raise Refused([FeedIssue(where, reason, kind="unknown-code")]) from None
    reason = f"code system {record.code_system!r} is not CVX or EU"
    raise Refused([FeedIssue(record.at("code_system"), reason, kind="unknown-code")])


def _check(
    ledger: DoseLedger,
    record: FeedRecord,
    allowed_sites: Sequence[str] | None,
    default_province: str | None,
    test_codes: bool,
    provinces: dict[str, str | None],
) -> DoseReport | UUID | None:
    """The record as a checked dose report (a void: the id of the dose it voids); None for a
    dose not given; Refused otherwise."""
    issues = [i for i in record.found if i.severity == "error"]
    if record.action not in ACTIONS:
        issues.append(
            FeedIssue(record.at("action"), f"action {record.action!r} is not record, amend or void")
        )
    if not record.site_id:
        issues.append(FeedIssue(record.at("site_id"), "the site is missing", kind="missing"))
    elif allowed_sites is not None and record.site_id not in allowed_sites:
        issues.append(
            FeedIssue(record.at("site_id"), "this site is outside the sender's scope", kind="scope")
        )
    if not record.site_record_id:
        issues.append(
            FeedIssue(record.at("site_record_id"), "the site's record id is missing", kind="missing")
        )
    if record.completion not in COMPLETIONS:
        issues.append(
            FeedIssue(record.at("completion"), f"completion {record.completion!r} is not CP, RE, NA or PA")
        )
    if issues:
        raise Refused(issues)
    assert record.site_id and record.site_record_id
    if record.action == "void":  # a void names the dose by its site record: nothing else counts
        return dose_id_for(record.site_id, record.site_record_id)
    if record.completion != "CP":
        return None
    vaccine = None
    try:
        vaccine = vaccine_of(record, test_codes=test_codes)
    except Refused as refused:
        issues.extend(refused.issues)
    if not record.administered_on:
        issues.append(
            FeedIssue(record.at("administered_on"), "the date of administration is missing", kind="missing")
        )
    if record.person_id is not None:  # a known person: the ledger checks the date against their birth
        if issues:
            raise Refused(issues)
        return _report(record, vaccine, {"person_id": record.person_id})
    if not record.birth_date:
        issues.append(FeedIssue(record.at("birth_date"), "the date of birth is missing", kind="missing"))
    province = _province(ledger, record, default_province, provinces)
    if province is None:
        issues.append(
            FeedIssue(
                record.at("province"),
                "no Vietnamese province: give the person's province, list the site in the "
                "directory, or set the feed's default province",
            )
        )
    if issues:
        raise Refused(issues)
    person = {
        "full_name": record.full_name,
        "birth_date": record.birth_date,
        "sex": record.sex,
        "national_id": record.national_id,
        "phone": record.phone,
        "province": province,
        "district": record.district,
        "address": record.address,
    }
    report = _report(record, vaccine, {"person": person})
    born = (report.person or {})["birth_date"]
    if rules.day_of(report.administered_at).isoformat() < born:
        raise Refused(
            [
                FeedIssue(
                    record.at("birth_date"),
                    f"the date of birth is after the date of administration ({record.at('administered_on')})",
                )
            ]
        )
    return report


def _report(record: FeedRecord, vaccine: str | None, whose: dict[str, Any]) -> DoseReport:
    fields = {
        "site_id": record.site_id,
        "site_record_id": record.site_record_id,
        "vaccine": vaccine or "",
        "administered_at": record.administered_on,
        "lot": record.lot,
        **whose,
    }
    try:
        return dose_report(fields, source_of(record))
    except LedgerError as error:
        raise Refused([_issue(record, error)]) from None


def _province(
    ledger: DoseLedger, record: FeedRecord, default: str | None, sites: dict[str, str | None]
) -> str | None:
    if record.province:
        try:
            return codes.province_code(record.province)
        except ValueError:
            pass  # another country's (a US state): the site's or the default
    if record.site_id:
        if record.site_id not in sites:
            site = ledger.site(record.site_id)
            sites[record.site_id] = site.province if site is not None else None
        if sites[record.site_id]:
            return sites[record.site_id]
    return default


def _issue(record: FeedRecord, error: LedgerError) -> FeedIssue:
    name = _FIELD_OF.get(error.field, error.field)
    # A rule's message may quote the value it refused ("…, got '0912…'"): never a personal one.
    reason = error.message.split(", got ")[0]
    if error.kind == "ambiguous-person":  # not the other people's ids: the sender may not know them
        reason = "matches several people by name, birth date and phone: send the national id"
    kind = "missing" if reason == "is required" else "conflict" if error.kind == "conflict" else "invalid"
    if error.kind == "unknown-vaccine":
        kind = "unknown-code"
    return FeedIssue(record.at(name), reason, kind=kind)


def _known(ledger: DoseLedger, dose_id: UUID) -> bool:
    """Whether the site record was booked already (an amend or void then changes it)."""
    try:
        ledger.dose_origin(dose_id)
    except DoseNotFound:
        return False
    return True


def _recorded(record: FeedRecord, result: Any) -> Outcome:
    if result.status in (DoseStatus.CREATED, DoseStatus.DUPLICATE):
        receipt = result.receipt
        status = BOOKED if result.status == DoseStatus.CREATED else ALREADY_BOOKED
        warnings = tuple(i for i in record.found if i.severity == "warning")
        if warnings and status == BOOKED:
            status = FLAGGED
        return Outcome(status, warnings, receipt.dose_id, receipt.person_id, receipt.position)
    assert result.error is not None
    return Outcome(REFUSED, (_issue(record, result.error),))


def _change(
    ledger: DoseLedger, record: FeedRecord, checked: DoseReport | UUID, actor: Actor, dry_run: bool
) -> Outcome:
    """Amend or void a dose booked before, named by its site record."""
    dose_id = checked if isinstance(checked, UUID) else checked.dose_id
    reason = f"sent as {record.action} by {record.standard} message {record.message_id}"
    try:
        # A dry run decides the change too (without saving), so that a message tried first is
        # refused where its booking would be.
        if isinstance(checked, UUID):
            written = ledger.void_dose(
                dose_id, reason, actor=actor, source=source_of(record), dry_run=dry_run
            )
        else:
            changes = {
                "vaccine": checked.vaccine,
                "administered_at": checked.administered_at,
                "lot": checked.lot,
            }
            # its source keeps the record's warnings: the amendment replaces the dose's
            written = ledger.amend_dose(
                dose_id, changes, reason, actor=actor, source=checked.source, dry_run=dry_run
            )
    except DoseAlreadyVoided:
        return Outcome(ALREADY_BOOKED, (), dose_id, None, ledger.head())
    except InvalidValue as error:
        if error.field == "changes":  # every value already the stored one: sent before
            return Outcome(ALREADY_BOOKED, (), dose_id, None, ledger.head())
        return Outcome(REFUSED, (_issue(record, error),))
    except LedgerError as error:
        return Outcome(REFUSED, (_issue(record, error),))
    warnings = () if isinstance(checked, UUID) else tuple(i for i in record.found if i.severity == "warning")
    position = None if dry_run else written.position
    return Outcome(FLAGGED if warnings else BOOKED, warnings, dose_id, written.aggregate_id, position)


def _not_given(record: FeedRecord) -> FeedIssue:
    what = NOT_GIVEN.get(record.completion, record.completion)
    reason = f"{what}, not a dose: nothing booked"
    if record.refusal_reason:
        reason += f" (reason code {record.refusal_reason})"
    return FeedIssue(record.at("completion"), reason, "warning")
