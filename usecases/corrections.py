"""A citizen's correction request: filed (or joined to the same open one), assigned, resolved.

Accepting a request makes the correction it claims in the same transaction as the answer.
"""

from __future__ import annotations

import hmac
from typing import Any
from uuid import UUID, uuid4

from ledger import rules
from ledger.corrections import code_digest, correction_claim, verification_code
from ledger.errors import CorrectionNotFound, InvalidValue
from ledger.keys import CorrectionTicket, dose_id_for
from ledger.person import OPEN_STATES, Person
from ledger.recording import as_uuid
from ledger.values import Actor, CorrectionKind, CorrectionStatus, Source
from store.site_records import SiteRecordKey
from usecases.decision import Decisions
from usecases.people import change_details, person_in
from usecases.receipts import CorrectionFiled, Written
from usecases.sites import Sites
from usecases.working_set import WorkingSet


class Corrections:
    def __init__(self, decisions: Decisions, sites: Sites) -> None:
        self.decisions = decisions
        self.sites = sites

    def request(
        self,
        person_id: UUID | str,
        kind: str,
        claim: dict[str, Any],
        *,
        evidence_ref: str | None,
        contact: str | None,
        channel: str,
        filed_at: Any,
        actor: Actor,
    ) -> CorrectionFiled:
        """File a citizen's claim. The same claim while one is open joins it instead."""
        pid = as_uuid(person_id, "person_id")
        evidence_ref = rules.text(evidence_ref, "evidence_ref", max_len=300, required=False)
        contact = rules.text(contact, "contact", max_len=200, required=False)
        checked_channel = rules.text(channel, "channel", max_len=40)
        assert checked_channel is not None  # required: rules.text raised otherwise
        filed = (
            rules.administered_at(filed_at, "filed_at")
            if filed_at
            else rules.now_ict().replace(microsecond=0).isoformat()
        )
        source = Source.named("correction_request", channel=checked_channel)

        def choose(ws: WorkingSet) -> tuple[UUID, Person, str | None, bool, str]:
            person = person_in(ws, pid, follow_merges=True)
            checked = correction_claim(kind, claim, person)
            existing = person.open_correction_like(kind, checked)
            if existing is not None:
                person.repeat_correction(
                    UUID(existing["request_id"]), checked_channel, contact, actor.as_data(), source.as_data()
                )
                ws.changed(person)
                return UUID(existing["request_id"]), person, None, True, existing["filed_at"]
            request_id = uuid4()
            code = verification_code()
            person.request_correction(
                request_id,
                kind,
                checked,
                evidence_ref,
                contact,
                checked_channel,
                code_digest(code),
                filed,
                actor.as_data(),
                source.with_details(request_id=str(request_id)).as_data(),
            )
            ws.changed(person, CorrectionTicket.issue(request_id, person.id, code_digest(code)))
            return request_id, person, code, False, filed

        decided = self.decisions.decide(choose)
        request_id, person, code, linked, filed_at_ = decided.value
        return CorrectionFiled(request_id, person.id, code, linked, filed_at_, decided.position)

    def assign(self, request_id: UUID | str, assignee: dict[str, str], *, actor: Actor) -> Written:
        """Give a request to a province or a site to work."""
        rid = as_uuid(request_id, "request_id")
        if not isinstance(assignee, dict) or len(assignee) != 1 or not {"province", "site"} & set(assignee):
            raise InvalidValue("assignee", 'must be {"province": code} or {"site": site_id}')
        checked: dict[str, str]
        if "province" in assignee:
            checked = {"province": rules.province(assignee["province"], "assignee.province")}
        else:
            site = rules.text(assignee["site"], "assignee.site", max_len=64)
            assert site is not None  # required: rules.text raised otherwise
            checked = {"site": site}
        source = _about(rid)

        def choose(ws: WorkingSet) -> UUID:
            person = self._ticket_holder(ws, rid)
            person.assign_correction(rid, checked, actor.as_data(), source.as_data())
            ws.changed(person)
            return person.id

        decided = self.decisions.decide(choose)
        return Written(decided.value, decided.position)

    def resolve(self, request_id: UUID | str, outcome: str, reason: str, *, actor: Actor) -> Written:
        """Accepted: the correction it claims is made in the same transaction. Rejected: a reason."""
        rid = as_uuid(request_id, "request_id")
        reason = rules.reason(reason)
        source = _about(rid)

        def choose(ws: WorkingSet) -> UUID:
            person = self._ticket_holder(ws, rid)
            request = person.correction(rid)
            if outcome == CorrectionStatus.ACCEPTED and request["status"] in OPEN_STATES:
                self._apply_claim(ws, person, rid, request, reason, actor, source)
            person.resolve_correction(rid, outcome, reason, actor.as_data(), source.as_data())
            ws.changed(person)
            return person.id

        decided = self.decisions.decide(choose)
        return Written(decided.value, decided.position)

    def correction(self, request_id: UUID | str) -> dict[str, Any]:
        """A request as its workers see it: the claim, status, assignee, person and province."""
        rid = as_uuid(request_id, "request_id")
        person = self._ticket_holder(self.decisions.working_set(), rid)
        request = dict(person.correction(rid))
        request.pop("code_digest")
        return {**request, "person_id": str(person.id), "province": person.details["province"]}

    def status(self, request_id: UUID | str, code: str) -> dict[str, Any]:
        """For a citizen with the id and code given at filing: the status, no personal data."""
        try:
            rid = as_uuid(request_id, "request_id")
        except InvalidValue:
            raise CorrectionNotFound(request_id) from None
        ws = self.decisions.working_set()
        ticket = ws.get(CorrectionTicket, rid)
        # A wrong code and an unknown id answer alike: the id alone reveals nothing.
        if (
            ticket is None
            or not isinstance(code, str)
            or not hmac.compare_digest(ticket.code_digest, code_digest(code))
        ):
            raise CorrectionNotFound(rid)
        request = person_in(ws, ticket.person_id, follow_merges=True).correction(rid)
        return {
            "request_id": str(rid),
            "status": request["status"],
            "kind": request["kind"],
            "filed_at": request["filed_at"],
            "outcome": request["outcome"],
            "reason": request["reason"],
            "repeats": request["repeats"],
        }

    def _ticket_holder(self, ws: WorkingSet, request_id: UUID) -> Person:
        ticket = ws.get(CorrectionTicket, request_id)
        if ticket is None:
            raise CorrectionNotFound(request_id)
        return person_in(ws, ticket.person_id, follow_merges=True)

    def _apply_claim(
        self,
        ws: WorkingSet,
        person: Person,
        request_id: UUID,
        request: dict[str, Any],
        reason: str,
        actor: Actor,
        source: Source,
    ) -> None:
        claim = request["claim"]
        if request["kind"] == CorrectionKind.MISSING_DOSE:
            record_id = f"correction-{request_id}"
            claim_key = SiteRecordKey(
                dose_id_for(claim["site_id"], record_id),
                person.id,
                claim["site_id"],
                record_id,
                f"correction:{request_id}",
            )
            ws.claim(claim_key)
            person.record_dose(
                claim_key.dose_id,
                claim["vaccine"],
                claim.get("lot"),
                claim["administered_at"],
                claim["site_id"],
                claim.get("dose_number"),
                actor.as_data(),
                source.as_data(),
            )
            ws.changed(
                *self.sites.provisional(
                    ws, claim["site_id"], person.details["province"], actor, source.as_data()
                ),
            )
        elif request["kind"] == CorrectionKind.WRONG_DOSE:
            dose_id = UUID(claim["dose_id"])
            if claim.get("not_given"):
                person.void_dose(dose_id, reason, actor.as_data(), source.as_data())
            else:
                person.amend_dose(dose_id, claim["changes"], reason, actor.as_data(), source.as_data())
        else:
            changes = {k: v for k, v in claim["changes"].items() if person.details.get(k) != v}
            change_details(ws, person, changes, reason, actor, source.as_data())


def _about(request_id: UUID) -> Source:
    return Source.named("correction_request", request_id=str(request_id))
