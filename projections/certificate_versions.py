"""A person's certificate versions: what each certifies, its id, and what it superseded and why.

A version is identified by its content (`ledger.certification.certificate_id` of what `certify`
says under the series rules in force), so a rebuild can never give an issued id to other
content. The version number grows by one whenever that content changes: a dose, an amendment
or void that shows, a merge or its undoing, an erasure, a corrected name or birth date, or new series rules
that number the doses otherwise. A corrected phone number changes nothing.

New rules that number a person's doses as before change nothing either: the content is
compared without its rules version, so no certificate is revoked and signed again for a
version number alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ledger.catalog import vaccine_catalog
from ledger.certification import Certified, certificate_id_of, certify, content_digest
from ledger.person import Person
from ledger.series import Evaluation
from ledger.series_rules import SeriesRules
from projections.records import PersonRecord, fold_people
from usecases.issuance import Current, Superseded

# Why a new version supersedes the one before, by the event that made it (ledger.issuance.REASONS).
REASON_OF: dict[type, str] = {
    Person.Registered: "dose-added",  # a first version supersedes nothing
    Person.DetailsCorrected: "details-corrected",
    Person.DoseRecorded: "dose-added",
    Person.DoseAmended: "amended",
    Person.DoseVoided: "voided",
    Person.DuplicateAbsorbed: "merged",
    Person.MergedInto: "merged",
    Person.DuplicateReleased: "unmerged",  # the survivor's doses without the duplicate's
    Person.MergeUndone: "unmerged",  # the duplicate's certificate again, a new version
    Person.Erased: "erased",
}
RULES = "rules"


@dataclass(frozen=True)
class Adoption:
    """New series rules, from the moment they were adopted."""

    rules: SeriesRules
    at: datetime
    position: int | None = None  # known in a rebuild, where streams are not read in ledger order


def shown_doses(record: PersonRecord, evaluation: Evaluation) -> tuple[list[dict[str, Any]], str]:
    """The doses a certificate shows, numbered, and the status they give."""
    if record.merged:
        return [], "none"  # the doses moved to the survivor with the merge
    catalog = vaccine_catalog()
    doses = [
        {
            "dose_id": n.dose["dose_id"],
            "dose_number": n.number,
            "booster": n.booster,
            "vaccine": n.dose["vaccine"],
            "vaccine_name": catalog.vaccines[n.dose["vaccine"]].name
            if n.dose["vaccine"] in catalog
            else None,
            "lot": n.dose["lot"],
            "administered_at": n.dose["administered_at"],
            "site_id": n.dose["site_id"],
        }
        for n in evaluation.doses
    ]
    return doses, evaluation.status


def certified_of(record: PersonRecord, evaluation: Evaluation, rules: SeriesRules) -> Certified | None:
    """What the person's certificate certifies now; None for a person merged away (the survivor
    certifies the doses), erased, or with no valid dose."""
    if record.merged:
        return None
    return certify(record.person_id, record.details, evaluation, rules)


def _erased(person_id: str, shown: dict[str, Any]) -> dict[str, Any]:
    """An erased person's certificate: no id, and no history either. Its versions' ids and
    times were made from the erased name and birth date, which a rebuild can no longer read,
    so only what it can fold again stays (the doses and status: no one's personal data without
    the person's). Their issuances are revoked in the ledger, which keeps them."""
    return {
        "person_id": person_id,
        "certificate_id": None,
        "version": 1,
        "issued_at": None,
        "content_digest": None,
        "rules_version": None,
        "revoked": [],
        "superseded": [],
        **shown,
        "erased": True,
    }


class Versions:
    """The certificates of some people, folded event after event under the rules in force.

    Remembers, for the issuer, the content of each version it made (`certified`) and every id a
    new version superseded (`superseded`), in the order they were."""

    def __init__(self, key: bytes, rules: SeriesRules):
        self.key = key
        self.rules = rules
        self.records: dict[str, PersonRecord] = {}
        self.documents: dict[str, dict[str, Any]] = {}
        self.certified: dict[str, Certified] = {}
        self.superseded: list[Superseded] = []
        # Per person, the content last identified and its (id, digest): the content of most
        # events is the one before, and its digest (a canonical JSON and an HMAC) is then
        # the most of a fold's time (a rebuild's half).
        self._identified: dict[str, tuple[Certified, str]] = {}

    def digest(self, person_id: str, certified: Certified) -> str:
        """The content digest of this content."""
        known = self._identified.get(person_id)
        if known is not None and known[0] == certified:
            return known[1]
        digest = content_digest(certified, self.key)
        self._identified[person_id] = (certified, digest)
        return digest

    def same_content(self, certified: Certified | None, document: dict[str, Any]) -> bool:
        """Whether `certified` is what the document's version certifies, whatever rules
        numbered it."""
        if certified is None or document.get("certificate_id") is None:
            return certified is None and document.get("certificate_id") is None
        if certified.rules_version != document["rules_version"]:
            certified = replace(certified, rules_version=document["rules_version"])
        return bool(self.digest(document["person_id"], certified) == document["content_digest"])

    def forget(self) -> None:
        """Everything folded so far (a rebuild writes a batch of people, then folds the next)."""
        for folded in (self.records, self.documents, self.certified, self._identified):
            folded.clear()
        self.superseded.clear()

    def take(self, loaded: dict[str, tuple[PersonRecord, dict[str, Any]]]) -> None:
        for pid, (record, document) in loaded.items():
            self.records[pid], self.documents[pid] = record, document

    def fold(self, events: list[Any]) -> set[str]:
        """Apply person events, in order; a version after each that changes the content."""
        return fold_people(events, self.records, after_each=self._after_event)

    def _after_event(self, record: PersonRecord, event: Any) -> None:
        self.reissue(record, REASON_OF[type(event)], event.timestamp)

    def adopt(self, adoption: Adoption, people: Iterable[str]) -> None:
        """The rules change: these people's certificates are evaluated again under them."""
        self.rules = adoption.rules
        for pid in people:
            self.reissue(self.records[pid], RULES, adoption.at)

    def reissue(self, record: PersonRecord, reason: str, at: datetime) -> None:
        pid = record.person_id
        evaluation = record.evaluation()
        certified = certified_of(record, evaluation, self.rules)
        doses, status = shown_doses(record, evaluation)
        previous = self.documents.get(pid)
        shown = {
            "status": status,
            "doses": doses,
            "merged_into": record.merged_into,
            "province": record.details["province"],
        }
        if previous is not None and self.same_content(certified, previous):
            document = {**previous, **shown}
        else:
            document = self._new_version(record, previous, certified, reason, at) | shown
        if record.erased:
            document = _erased(pid, shown)
        self.documents[pid] = document

    def _new_version(
        self,
        record: PersonRecord,
        previous: dict[str, Any] | None,
        certified: Certified | None,
        reason: str,
        at: datetime,
    ) -> dict[str, Any]:
        version = previous["version"] + 1 if previous else 1
        digest = None if certified is None else self.digest(record.person_id, certified)
        new_id = None if digest is None else certificate_id_of(digest, version, self.key)
        superseded = list(previous["superseded"]) if previous else []
        if previous is not None and previous["certificate_id"] is not None:
            entry = Superseded(previous["certificate_id"], reason, new_id)
            superseded.append(entry.as_data())
            self.superseded.append(entry)
        if certified is not None:
            self.certified[record.person_id] = certified
        return {
            "person_id": record.person_id,
            "certificate_id": new_id,
            "version": version,
            "issued_at": at.isoformat(),
            "content_digest": digest,
            "rules_version": self.rules.version if certified is None else certified.rules_version,
            "revoked": [s["certificate_id"] for s in superseded],
            "superseded": superseded,
        }

    def became_current(self, before: dict[str, str | None], people: Iterable[str]) -> list[Current]:
        """The versions current now that were not at `before` (person → certificate id then)."""
        found = []
        for pid in sorted(people):
            document = self.documents[pid]
            now = document["certificate_id"]
            if now is not None and now != before.get(pid):
                found.append(Current(self.certified[pid], now, pid, document["version"]))
        return found

    def superseded_since(self, current: list[Current]) -> list[Superseded]:
        """What the fold superseded, but for ids current again (content that came back)."""
        now = {c.certificate_id for c in current} | {
            d["certificate_id"] for d in self.documents.values() if d["certificate_id"] is not None
        }
        return [s for s in self.superseded if s.certificate_id not in now]
