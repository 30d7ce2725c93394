"""A stand-in for `projections.open_views` while the projections branch is not merged here
(tests/api/conftest.py uses the real views as soon as they are importable; then delete this).

It answers every view question by folding the ledger afresh (slow, exact, tests only), in the
shapes the projections interface promises. Tests talk to it only through the HTTP API.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from ledger.application import DoseLedger
from ledger.catalog import vaccine_catalog
from ledger.errors import PersonNotFound
from ledger.person import Person
from ledger.rules import day_of
from ledger.site import Site


class FakeViews:
    def __init__(self, ledger: DoseLedger) -> None:
        self.ledger = ledger
        self.certificates = self.statistics = self.localities = self.review = self

    def _ids(self, topic: str) -> list[UUID]:
        rows = self.ledger.recorder.select_notifications(start=1, limit=1_000_000, topics=[topic])
        return [row.originator_id for row in rows]

    def _people(self) -> list[Person]:
        people = [self.ledger.person(pid) for pid in self._ids(get_topic(Person.Registered))]
        return [p for p in people if p.merged_into is None]

    # certificates
    def certificate(self, person_id: UUID) -> dict[str, Any] | None:
        try:
            person = self.ledger.person(person_id)
        except PersonNotFound:
            return None
        evaluation = person.evaluation()
        catalog = vaccine_catalog()
        return {
            "person_id": person.id, "certificate_id": f"{person.id}-{person.version}",
            "version": person.version, "status": evaluation.status, "issued_at": None,
            "doses": [{"dose_id": n.dose["dose_id"], "dose_number": n.number, "booster": n.booster,
                       "vaccine": n.dose["vaccine"], "vaccine_name": catalog[n.dose["vaccine"]].name,
                       "lot": n.dose["lot"], "administered_at": n.dose["administered_at"],
                       "site_id": n.dose["site_id"]} for n in evaluation.doses],
            "revoked": [], "merged_into": person.merged_into, "province": person.details["province"],
        }

    # statistics
    def dose_counts(self, group_by: list[str], date_from: date | None, date_to: date | None,
                    provinces: list[str] | None) -> list[dict[str, Any]]:
        counts: Counter = Counter()
        for person in self._people():
            province = person.details["province"]
            if provinces is not None and province not in provinces:
                continue
            for numbered in person.evaluation().doses:
                day = day_of(numbered.dose["administered_at"])
                if (date_from and day < date_from) or (date_to and day > date_to):
                    continue
                values = {"date": day.isoformat(), "province": province,
                          "site_id": numbered.dose["site_id"], "vaccine": numbered.dose["vaccine"],
                          "dose_number": numbered.number}
                counts[tuple((g, values[g]) for g in group_by)] += 1
        if not group_by:  # one total, as the real view answers
            return [{"doses": counts[()]}]
        return [{**dict(key), "doses": n} for key, n in sorted(counts.items())]

    def coverage(self, provinces: list[str] | None) -> list[dict[str, Any]]:
        counts = Counter((p.details["province"], p.evaluation().status) for p in self._people()
                         if provinces is None or p.details["province"] in provinces)
        return [{"province": pr, "status": st, "people": n} for (pr, st), n in sorted(counts.items())]

    # localities
    def find(self, phone: str | None = None, national_id: str | None = None,
             provinces: list[str] | None = None) -> list[dict[str, Any]]:
        return [{"person_id": p.id, "full_name": p.details["full_name"],
                 "birth_date": p.details["birth_date"], "province": p.details["province"],
                 "district": p.details["district"], "status": p.evaluation().status}
                for p in self._people()
                if (phone is None or p.details["phone"] == phone)
                and (national_id is None or p.details["national_id"] == national_id)
                and (provinces is None or p.details["province"] in provinces)]

    # review queues
    def sites(self, status: str | None = None,
              provinces: list[str] | None = None) -> list[dict[str, Any]]:
        found = []
        for row_id in self._ids(get_topic(Site.Listed)):
            site = self.ledger.repository.get(row_id)
            if (status is None or site.kind == status) and (provinces is None or site.province in provinces):
                found.append({"site_id": site.site_id, "name": site.name, "province": site.province,
                              "district": site.district, "status": site.kind,
                              "review_status": site.review_status})
        return found

    # operations
    def status(self) -> list[dict[str, Any]]:
        head = self.ledger.head()
        return [{"name": "fake", "position": head, "head": head, "lag_events": 0,
                 "lag_seconds": 0.0, "state": "running", "error": None}]

    def wait(self, position: int, timeout: float) -> bool:
        return position <= self.ledger.head()

    def close(self) -> None:
        pass
