"""Who may call what: every /v1 route × every role, in scope and out of scope.

The routes come from the application's own route table, so a new endpoint without an entry
here (or without an `Allow`) fails this module instead of skipping it.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.routing import APIRoute

from api.app import ROUTERS, create_app
from api.auth import Allow, actor
from intake.retro import Form, intake
from ledger.principal import ROLES, Principal
from ledger.values import Actor
from tests.api.conftest import CLI, Caller, dose, lan
from tests.api.signed import issue_current
from tests.cvrs_files import cvrs_file
from tests.retro_files import csv_bytes
from tests.retro_files import row as sheet_row
from tests.test_hl7 import message as hl7_message_of
from usecases.principals import issue_token, revoke_token

SYSTEM = Actor("tests", "admin")


def hl7_message(site: str, record: str) -> str:
    return hl7_message_of(record, site=site, record=record)


SITE_IN, SITE_OUT = "01-TYT-001", "79-TYT-001"
IN_SCOPE = {"site": {"sites": [SITE_IN]}, "province": {"provinces": ["01"]}}
OUT_OF_SCOPE = {"site": {"sites": [SITE_OUT]}, "province": {"provinces": ["79"]}}
EVERYONE_BUT_PORTAL = {"admin", "site", "province", "auditor", "reporter"}
PUBLIC = {"public"}  # no token: a route that takes none (it declares no `Allow`)

# Who may call what (docs/ARCHITECTURE.md, the HTTP contract); admin may call everything.
EXPECTED_ROLES = {
    ("POST", "/v1/doses"): {"admin", "site"},
    ("POST", "/v1/doses/batch"): {"admin", "site"},
    ("POST", "/v1/doses/{dose_id}/amend"): {"admin", "site"},
    ("POST", "/v1/doses/{dose_id}/void"): {"admin", "site"},
    ("POST", "/v1/persons"): {"admin", "site"},
    ("GET", "/v1/persons"): {"admin", "site", "province", "auditor"},
    ("GET", "/v1/localities/{code}/people"): {"admin", "province", "auditor"},
    ("POST", "/v1/persons/{person_id}/merge"): {"admin", "province"},
    ("POST", "/v1/persons/{person_id}/unmerge"): {"admin", "province"},
    ("POST", "/v1/persons/{person_id}/erasure"): {"admin"},
    ("GET", "/v1/review/duplicates"): {"admin", "province", "auditor"},
    ("GET", "/v1/review/duplicates/compare"): {"admin", "province", "auditor"},
    ("GET", "/v1/review/flags"): {"admin", "province", "auditor"},
    ("POST", "/v1/review/flags/resolution"): {"admin", "province"},
    ("GET", "/v1/review/sites"): {"admin", "province", "auditor"},
    ("GET", "/v1/certificates/{person_id}"): {"admin", "site", "province", "auditor"},
    ("GET", "/v1/certificates/{person_id}/dcc"): {"admin", "site", "province", "auditor"},
    ("GET", "/v1/certificates/{person_id}/shc"): {"admin", "site", "province", "auditor"},
    ("GET", "/v1/revocations"): PUBLIC,
    ("GET", "/v1/stats/doses"): {"admin", "province", "reporter", "auditor"},
    ("GET", "/v1/stats/coverage"): {"admin", "province", "reporter", "auditor"},
    ("GET", "/v1/sites"): {"admin", "province", "auditor"},
    ("POST", "/v1/sites"): {"admin", "province"},
    ("POST", "/v1/sites/{site_id}/review"): {"admin", "province"},
    ("GET", "/v1/sites/{site_id}/doses"): {"admin", "site", "province"},
    ("POST", "/v1/sites/{site_id}/tallies"): {"admin", "site"},
    ("GET", "/v1/sites/{site_id}/tallies"): {"admin", "site", "province", "auditor"},
    ("GET", "/v1/stats/backlog"): {"admin", "province", "reporter", "auditor"},
    ("GET", "/v1/fhir/Patient/{person_id}/$everything"): {"admin", "site", "province", "auditor"},
    ("GET", "/v1/fhir/Immunization"): {"admin", "site", "province", "auditor"},
    ("POST", "/v1/fhir"): {"admin", "site"},
    ("GET", "/v1/projections"): {"admin", "reporter", "auditor"},
    ("GET", "/v1/audit/persons/{person_id}/history"): {"admin", "auditor"},
    ("GET", "/v1/audit/persons/{person_id}/state"): {"admin", "auditor"},
    ("GET", "/v1/audit/persons/{person_id}/diff"): {"admin", "auditor"},
    ("GET", "/v1/audit/persons/{person_id}/explain"): {"admin", "auditor"},
    ("GET", "/v1/audit/persons/{person_id}/verify"): {"admin", "auditor"},
    ("GET", "/v1/audit/access"): {"admin", "auditor"},
    ("GET", "/v1/audit/access/report"): {"admin", "auditor"},
    # Imports: sent by site (its own sites) and admin; read by their submitter, admin, auditor.
    ("POST", "/v1/imports"): {"admin", "site"},
    ("POST", "/v1/cvrs"): {"admin", "site"},
    ("GET", "/v1/imports/{import_id}"): {"admin", "site", "auditor"},
    ("GET", "/v1/imports/{import_id}/errors.csv"): {"admin", "site", "auditor"},
    ("GET", "/v1/imports/template.csv"): {"admin", "site"},
    ("GET", "/v1/imports/template.xlsx"): {"admin", "site"},
    ("GET", "/v1/imports/tally-template.csv"): {"admin", "site"},
    ("GET", "/v1/imports/tally-template.xlsx"): {"admin", "site"},
    # HL7 v2 feeds: a site sends its own sites' messages; another site's is answered AR.
    ("POST", "/v1/hl7v2"): {"admin", "site"},
    ("POST", "/v1/correction-requests"): {"admin", "portal", "site"},
    ("GET", "/v1/correction-requests"): {"admin", "province", "auditor"},
    ("POST", "/v1/correction-requests/{request_id}/assign"): {"admin", "province", "site"},
    ("POST", "/v1/correction-requests/{request_id}/resolve"): {"admin", "province", "site"},
    ("GET", "/v1/correction-requests/{request_id}/status"): PUBLIC,
    ("GET", "/v1/stats/corrections"): {"admin", "province", "reporter", "auditor"},
    ("POST", "/v1/tokens"): {"admin"},
    ("GET", "/v1/tokens"): {"admin"},
    ("POST", "/v1/tokens/{principal_id}/revocation"): {"admin"},
    ("POST", "/v1/tokens/{principal_id}/rotation"): {"admin"},
    ("GET", "/v1/trust-list"): PUBLIC,
    ("POST", "/v1/verify"): PUBLIC,
}


class World:
    """A person of province 01 with a dose from site 01-TYT-001; fresh things on demand."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger
        self.counter = itertools.count()
        ledger.register_site(SITE_IN, name="Trạm Y tế Ba Đình", kind="official", province="01", actor=SYSTEM)
        ledger.register_site(SITE_OUT, name="Trạm Y tế Quận 1", kind="official", province="79", actor=SYSTEM)
        self.person = ledger.register_person(lan(), actor=SYSTEM).person_id
        self.principals: dict[tuple[str, str], tuple[str, Principal]] = {}

    def token(self, role: str, scope: dict[str, Any]) -> str:
        return self.principal(role, scope)[0]

    def principal(self, role: str, scope: dict[str, Any]) -> tuple[str, Principal]:
        """One token per role and scope in a world, so that an import is read by its submitter."""
        key = (role, json.dumps(scope, sort_keys=True))
        if key not in self.principals:
            self.principals[key] = issue_token(self.ledger, role=role, actor=CLI, **scope)
        return self.principals[key]

    def now(self) -> dict[str, int]:
        """A read's `min_position`: the projections have seen every write so far."""
        return {"min_position": self.ledger.head()}

    def fresh(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter)}"

    def fresh_dose(self) -> UUID:
        return self.ledger.record_dose(
            actor=SYSTEM, person_id=self.person, **dose(self.fresh("W"), administered_at="2021-06-01")
        ).dose_id

    def vaccinated(self) -> UUID:
        """The person, with a dose once and its certificate signed."""
        if not hasattr(self, "_dose"):
            self._dose = self.fresh_dose()
            issue_current(self.ledger)
        return self.person

    def fresh_person(self) -> UUID:
        return self.ledger.register_person(lan(national_id=None), actor=SYSTEM).person_id

    def unmerge(self) -> tuple[str, str, dict[str, Any]]:
        """Undo the merge of two fresh people of province 01."""
        survivor, duplicate = self.fresh_person(), self.fresh_person()
        self.ledger.merge_persons(survivor, duplicate, "same person", actor=SYSTEM)
        body = {"duplicate_person_id": str(duplicate), "reason": "twins"}
        return "POST", f"/v1/persons/{survivor}/unmerge", {"json": body}

    def twins(self) -> tuple[UUID, UUID]:
        """Two people of province 01 with one name and birth date: a group of possible duplicates."""
        if not hasattr(self, "_twins"):
            self._twins = (self.fresh_person(), self.fresh_person())
        return self._twins

    def flagged_dose(self) -> UUID:
        """A fresh dose of the person whose reported number is not the computed one."""
        return self.ledger.record_dose(
            actor=SYSTEM,
            person_id=self.person,
            **dose(self.fresh("F"), administered_at="2021-06-01", dose_number=9),
        ).dose_id

    def provisional_site(self) -> None:
        """A site of province 01 that a dose named before anyone listed it."""
        if not hasattr(self, "_provisional"):
            self._provisional = self.ledger.record_dose(
                actor=SYSTEM, person_id=self.person, **dose(self.fresh("P"), site_id="01-UNLISTED-1")
            )

    def import_file(self) -> bytes:
        return csv_bytes([sheet_row(self.fresh("I"), site_id=SITE_IN)])

    def fresh_import(self) -> str:
        """An import sent by the in-scope site token."""
        submitter = actor(self.principal("site", IN_SCOPE["site"])[1])
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "doses.csv"
            path.write_bytes(self.import_file())
            return intake.submit(self.ledger, path, Form("TTYT Ba Đình", "BS. Lê Văn Tám"), submitter)[
                "import_id"
            ]

    def fresh_claim(self) -> dict[str, Any]:
        return {
            "vaccine": "Pfizer",
            "administered_at": f"2021-09-{next(self.counter) % 28 + 1:02d}",
            "site_id": SITE_IN,
        }

    def fresh_request(self) -> tuple[UUID, str]:
        """A request of the person, assigned to the site 01-TYT-001 (of province 01): its id and code."""
        filed = self.ledger.request_correction(
            self.fresh_person(), "missing_dose", self.fresh_claim(), actor=SYSTEM
        )
        self.ledger.assign_correction(filed.request_id, {"site": SITE_IN}, actor=SYSTEM)
        return filed.request_id, filed.code

    def fresh_principal(self) -> UUID:
        return issue_token(self.ledger, role="reporter", name=self.fresh("P"), actor=CLI)[1].id

    def fhir_bundle(self) -> dict[str, Any]:
        """A transaction of one Immunization of the person at the in-scope site."""
        immunization = {
            "resourceType": "Immunization",
            "status": "completed",
            "identifier": [{"system": "urn:test", "value": self.fresh("F")}],
            "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "208"}]},
            "patient": {"reference": f"Patient/{self.person}"},
            "occurrenceDateTime": "2021-06-01",
            "location": {"identifier": {"value": SITE_IN}},
        }
        return {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": immunization}]}

    def status_check(self) -> tuple[str, str, dict[str, Any]]:
        request_id, code = self.fresh_request()
        return "GET", f"/v1/correction-requests/{request_id}/status", {"params": {"code": code}}


@dataclass
class Recipe:
    request: Callable[[World], tuple[str, str, dict[str, Any]]]  # method, url, httpx kwargs
    # Per scoped role, what a token outside the resource's scope gets: "403"; "404" (the
    # resource is hidden); "open" (the route does not scope that role); or a check that the
    # answer hides the resource.
    outside: dict[str, str | Callable[[Any], bool]]


RECIPES: dict[tuple[str, str], Recipe] = {
    ("POST", "/v1/doses"): Recipe(
        lambda w: ("POST", "/v1/doses", {"json": dose(w.fresh("D"), person_id=str(w.person))}),
        {"site": "403"},
    ),
    ("POST", "/v1/doses/batch"): Recipe(
        lambda w: (
            "POST",
            "/v1/doses/batch",
            {"json": {"doses": [dose(w.fresh("D"), person_id=str(w.person))]}},
        ),
        {"site": "403"},
    ),
    ("POST", "/v1/doses/{dose_id}/amend"): Recipe(
        lambda w: ("POST", f"/v1/doses/{w.fresh_dose()}/amend", {"json": {"lot": "X1", "reason": "typo"}}),
        {"site": "403"},
    ),
    ("POST", "/v1/doses/{dose_id}/void"): Recipe(
        lambda w: ("POST", f"/v1/doses/{w.fresh_dose()}/void", {"json": {"reason": "entered twice"}}),
        {"site": "403"},
    ),
    ("POST", "/v1/persons"): Recipe(
        lambda w: ("POST", "/v1/persons", {"json": lan(national_id=None)}), {"site": "open"}
    ),
    ("GET", "/v1/persons"): Recipe(
        lambda w: ("GET", "/v1/persons", {"params": {"phone": "0912345678", **w.now()}}),
        {"site": "open", "province": lambda body: body["persons"] == []},
    ),
    ("GET", "/v1/localities/{code}/people"): Recipe(
        lambda w: ("GET", "/v1/localities/01/people", {"params": w.now()}),
        {"province": "403"},
    ),
    ("POST", "/v1/persons/{person_id}/merge"): Recipe(
        lambda w: (
            "POST",
            f"/v1/persons/{w.person}/merge",
            {"json": {"duplicate_person_id": str(w.fresh_person()), "reason": "twice"}},
        ),
        {"province": "403"},
    ),
    ("POST", "/v1/persons/{person_id}/unmerge"): Recipe(
        lambda w: w.unmerge(),
        {"province": "403"},
    ),
    ("GET", "/v1/review/duplicates"): Recipe(
        lambda w: (w.twins(), ("GET", "/v1/review/duplicates", {"params": w.now()}))[1],
        {"province": lambda body: body["groups"] == []},
    ),
    ("GET", "/v1/review/duplicates/compare"): Recipe(
        lambda w: (
            "GET",
            "/v1/review/duplicates/compare",
            {"params": {"a": str(w.twins()[0]), "b": str(w.twins()[1]), **w.now()}},
        ),
        {"province": "403"},
    ),
    ("GET", "/v1/review/flags"): Recipe(
        lambda w: (w.flagged_dose(), ("GET", "/v1/review/flags", {"params": w.now()}))[1],
        {"province": lambda body: body["flags"] == []},
    ),
    ("POST", "/v1/review/flags/resolution"): Recipe(
        lambda w: (
            "POST",
            "/v1/review/flags/resolution",
            {"json": {"dose_id": str(w.flagged_dose()), "kind": "dose-number-mismatch", "reason": "typo"}},
        ),
        {"province": "403"},
    ),
    ("GET", "/v1/review/sites"): Recipe(
        lambda w: (w.provisional_site(), ("GET", "/v1/review/sites", {"params": w.now()}))[1],
        {"province": lambda body: body["sites"] == []},
    ),
    ("POST", "/v1/persons/{person_id}/erasure"): Recipe(
        lambda w: ("POST", f"/v1/persons/{w.fresh_person()}/erasure", {"json": {"reason": "asked"}}),
        {},
    ),
    ("GET", "/v1/certificates/{person_id}"): Recipe(
        lambda w: ("GET", f"/v1/certificates/{w.person}", {"params": w.now()}),
        {"site": "open", "province": "403"},
    ),
    **{
        ("GET", f"/v1/certificates/{{person_id}}/{form}"): Recipe(
            lambda w, form=form: ("GET", f"/v1/certificates/{w.vaccinated()}/{form}", {"params": w.now()}),
            {"site": "open", "province": "403"},
        )
        for form in ("dcc", "shc")
    },
    ("GET", "/v1/revocations"): Recipe(
        lambda w: ("GET", "/v1/revocations", {}), {"site": "open", "province": "open"}
    ),
    ("GET", "/v1/stats/doses"): Recipe(
        lambda w: (
            "GET",
            "/v1/stats/doses",
            {"params": {"province": "01", "group_by": "province", **w.now()}},
        ),
        {"province": "403"},
    ),
    ("GET", "/v1/stats/coverage"): Recipe(
        lambda w: ("GET", "/v1/stats/coverage", {"params": {"province": "01", **w.now()}}),
        {"province": "403"},
    ),
    ("GET", "/v1/sites"): Recipe(
        lambda w: ("GET", "/v1/sites", {"params": w.now()}),
        {"province": lambda body: all(s["province"] != "01" for s in body["sites"])},
    ),
    ("POST", "/v1/sites"): Recipe(
        lambda w: (
            "POST",
            "/v1/sites",
            {"json": {"site_id": w.fresh("01-NEW-"), "name": "Trạm mới", "kind": "mobile", "province": "01"}},
        ),
        {"province": "403"},
    ),
    ("POST", "/v1/sites/{site_id}/review"): Recipe(
        lambda w: ("POST", f"/v1/sites/{SITE_IN}/review", {"json": {"decision": "approved"}}),
        {"province": "403"},
    ),
    ("GET", "/v1/projections"): Recipe(lambda w: ("GET", "/v1/projections", {}), {}),
    ("GET", "/v1/audit/persons/{person_id}/history"): Recipe(
        lambda w: ("GET", f"/v1/audit/persons/{w.person}/history", {}), {}
    ),
    ("GET", "/v1/audit/persons/{person_id}/state"): Recipe(
        lambda w: ("GET", f"/v1/audit/persons/{w.person}/state", {"params": {"as_of": "1"}}), {}
    ),
    ("GET", "/v1/audit/persons/{person_id}/diff"): Recipe(
        lambda w: ("GET", f"/v1/audit/persons/{w.person}/diff", {"params": {"from": "0", "to": "1"}}), {}
    ),
    ("GET", "/v1/audit/persons/{person_id}/explain"): Recipe(
        lambda w: ("GET", f"/v1/audit/persons/{w.person}/explain", {}), {}
    ),
    ("GET", "/v1/audit/persons/{person_id}/verify"): Recipe(
        lambda w: ("GET", f"/v1/audit/persons/{w.person}/verify", {}), {}
    ),
    ("GET", "/v1/audit/access"): Recipe(
        lambda w: ("GET", "/v1/audit/access", {"params": {"person_id": str(w.person)}}), {}
    ),
    ("GET", "/v1/audit/access/report"): Recipe(
        lambda w: ("GET", "/v1/audit/access/report", {"params": {"person_id": str(w.person)}}), {}
    ),
    ("POST", "/v1/imports"): Recipe(
        lambda w: (
            "POST",
            "/v1/imports",
            {
                "files": {"file": ("doses.csv", w.import_file(), "text/csv")},
                "data": {"unit": "TTYT Ba Đình", "attested_by": "BS. Lê Văn Tám", "site_id": SITE_IN},
            },
        ),
        {"site": "403"},
    ),
    ("GET", "/v1/imports/{import_id}"): Recipe(
        lambda w: ("GET", f"/v1/imports/{w.fresh_import()}", {}), {"site": "404"}
    ),
    ("POST", "/v1/cvrs"): Recipe(
        lambda w: (
            "POST",
            "/v1/cvrs",
            {"content": cvrs_file(site=SITE_IN), "params": {"default_province": "01"}},
        ),
        {"site": lambda body: body["counts"] == {"refused": 1}},
    ),
    ("GET", "/v1/imports/{import_id}/errors.csv"): Recipe(
        lambda w: ("GET", f"/v1/imports/{w.fresh_import()}/errors.csv", {}), {"site": "404"}
    ),
    ("POST", "/v1/hl7v2"): Recipe(
        # no Content-Type: HL7 senders often send none, and the 401 check sends its own headers
        lambda w: ("POST", "/v1/hl7v2", {"content": hl7_message(SITE_IN, w.fresh("H")).encode()}),
        {"site": lambda ack: "MSA|AR|" in ack and "outside the sender's scope" in ack},
    ),
    ("GET", "/v1/imports/template.csv"): Recipe(
        lambda w: ("GET", "/v1/imports/template.csv", {}), {"site": "open"}
    ),
    ("GET", "/v1/imports/template.xlsx"): Recipe(
        lambda w: ("GET", "/v1/imports/template.xlsx", {}), {"site": "open"}
    ),
    ("GET", "/v1/imports/tally-template.csv"): Recipe(
        lambda w: ("GET", "/v1/imports/tally-template.csv", {}), {"site": "open"}
    ),
    ("GET", "/v1/imports/tally-template.xlsx"): Recipe(
        lambda w: ("GET", "/v1/imports/tally-template.xlsx", {}), {"site": "open"}
    ),
    ("POST", "/v1/correction-requests"): Recipe(
        lambda w: (
            "POST",
            "/v1/correction-requests",
            {"json": {"person_id": str(w.person), "kind": "missing_dose", "claim": w.fresh_claim()}},
        ),
        {"site": "open"},
    ),
    ("GET", "/v1/correction-requests"): Recipe(
        lambda w: ("GET", "/v1/correction-requests", {"params": {"province": "01", **w.now()}}),
        {"province": "403"},
    ),
    ("POST", "/v1/correction-requests/{request_id}/assign"): Recipe(
        lambda w: (
            "POST",
            f"/v1/correction-requests/{w.fresh_request()[0]}/assign",
            {"json": {"site": SITE_IN}},
        ),
        {"site": "403", "province": "403"},
    ),
    ("POST", "/v1/correction-requests/{request_id}/resolve"): Recipe(
        lambda w: (
            "POST",
            f"/v1/correction-requests/{w.fresh_request()[0]}/resolve",
            {"json": {"outcome": "rejected", "reason": "not in the site's log"}},
        ),
        {"site": "403", "province": "403"},
    ),
    ("GET", "/v1/correction-requests/{request_id}/status"): Recipe(
        lambda w: w.status_check(), {"site": "open", "province": "open"}
    ),
    ("GET", "/v1/stats/corrections"): Recipe(
        lambda w: ("GET", "/v1/stats/corrections", {"params": {"province": "01", **w.now()}}),
        {"province": "403"},
    ),
    ("GET", "/v1/sites/{site_id}/doses"): Recipe(
        lambda w: ("GET", f"/v1/sites/{SITE_IN}/doses", {}), {"site": "403", "province": "403"}
    ),
    ("POST", "/v1/sites/{site_id}/tallies"): Recipe(
        lambda w: (
            "POST",
            f"/v1/sites/{SITE_IN}/tallies",
            {"json": {"day": "2021-08-01", "counts": {"EU/1/20/1528": next(w.counter) + 1}}},
        ),
        {"site": "403"},
    ),
    ("GET", "/v1/sites/{site_id}/tallies"): Recipe(
        lambda w: ("GET", f"/v1/sites/{SITE_IN}/tallies", {"params": w.now()}),
        {"site": "403", "province": "403"},
    ),
    ("GET", "/v1/stats/backlog"): Recipe(
        lambda w: ("GET", "/v1/stats/backlog", {"params": {"province": "01", "group_by": "site", **w.now()}}),
        {"province": "403"},
    ),
    ("GET", "/v1/fhir/Patient/{person_id}/$everything"): Recipe(
        lambda w: ("GET", f"/v1/fhir/Patient/{w.person}/$everything", {}), {"site": "open", "province": "403"}
    ),
    ("GET", "/v1/fhir/Immunization"): Recipe(
        lambda w: ("GET", "/v1/fhir/Immunization", {"params": {"patient": str(w.person)}}),
        {"site": "open", "province": "403"},
    ),
    # A site token outside the scope is answered 200, its entry refused 403.
    ("POST", "/v1/fhir"): Recipe(
        lambda w: ("POST", "/v1/fhir", {"json": w.fhir_bundle()}),
        {"site": lambda body: [e["response"]["status"] for e in body["entry"]] == ["403 Forbidden"]},
    ),
    ("POST", "/v1/tokens"): Recipe(
        lambda w: ("POST", "/v1/tokens", {"json": {"role": "site", "sites": [SITE_IN]}}), {}
    ),
    ("GET", "/v1/tokens"): Recipe(lambda w: ("GET", "/v1/tokens", {}), {}),
    ("POST", "/v1/tokens/{principal_id}/revocation"): Recipe(
        lambda w: ("POST", f"/v1/tokens/{w.fresh_principal()}/revocation", {"json": {"reason": "lost"}}), {}
    ),
    ("POST", "/v1/tokens/{principal_id}/rotation"): Recipe(
        lambda w: ("POST", f"/v1/tokens/{w.fresh_principal()}/rotation", {"json": {}}), {}
    ),
    ("GET", "/v1/trust-list"): Recipe(
        lambda w: ("GET", "/v1/trust-list", {}), {"site": "open", "province": "open"}
    ),
    ("POST", "/v1/verify"): Recipe(
        lambda w: ("POST", "/v1/verify", {"json": {"qr": "HC1:x"}}), {"site": "open", "province": "open"}
    ),
}


def declared_roles(route: APIRoute) -> frozenset[str] | None:
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        if isinstance(dependant.call, Allow):
            return dependant.call.roles
        pending.extend(dependant.dependencies)
    return None


def v1_routes() -> dict[tuple[str, str], APIRoute]:
    return {
        (method, route.path): route
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and route.path.startswith("/v1")
        for method in route.methods
    }


def test_every_v1_route_declares_the_roles_the_design_gives_it_and_has_a_recipe():
    routes = v1_routes()
    served = {
        (method.upper(), path)
        for path, operations in create_app(views=object()).openapi()["paths"].items()
        if path.startswith("/v1")
        for method in operations
    }
    assert set(routes) == served == set(RECIPES) == set(EXPECTED_ROLES)
    assert {key: set(declared_roles(route) or PUBLIC) for key, route in routes.items()} == EXPECTED_ROLES


def caller(service: Any, world: World, role: str, scope: dict[str, Any]) -> Caller:
    return Caller(service.client, world.token(role, scope))


@pytest.mark.parametrize("key", sorted(RECIPES), ids=lambda key: f"{key[0]} {key[1]}")
def test_each_role_in_and_out_of_scope(service, key):
    world = World(service.ledger)
    recipe = RECIPES[key]
    allowed = EXPECTED_ROLES[key]
    if allowed == PUBLIC:
        allowed = set(ROLES)  # any token, or none, is welcome
        method, url, kwargs = recipe.request(world)
        response = service.anonymous().request(method, url, **kwargs)
        assert 200 <= response.status_code < 300, response.text
    for role in ROLES:
        method, url, kwargs = recipe.request(world)
        response = caller(service, world, role, IN_SCOPE.get(role, {})).request(method, url, **kwargs)
        if role in allowed:
            assert 200 <= response.status_code < 300, (role, response.text)
        else:
            assert response.status_code == 403, (role, response.text)
            assert response.json()["type"].endswith("/forbidden")
    for role, expected in recipe.outside.items():
        assert role in allowed
        method, url, kwargs = recipe.request(world)
        response = caller(service, world, role, OUT_OF_SCOPE[role]).request(method, url, **kwargs)
        if expected in ("403", "404"):
            assert response.status_code == int(expected), (role, response.text)
        else:
            assert 200 <= response.status_code < 300, (role, response.text)
            answer = response.json() if "json" in response.headers["content-type"] else response.text
            assert expected == "open" or expected(answer), (role, response.text)
    scoped = {role for role in allowed if role in IN_SCOPE}
    assert scoped == set(recipe.outside), "say what a token outside its scope gets here"


@pytest.mark.parametrize("key", sorted(RECIPES), ids=lambda key: f"{key[0]} {key[1]}")
def test_no_token_or_a_bad_one_is_401_everywhere(service, key):
    """...except on a public route, which reads no Authorization header at all."""
    world = World(service.ledger)
    method, url, kwargs = RECIPES[key].request(world)
    for headers in (
        {},
        {"Authorization": "Bearer dl_not-a-real-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ):
        response = service.client.request(method, url, headers=headers, **kwargs)
        if EXPECTED_ROLES[key] == PUBLIC:
            assert response.status_code == 200, response.text
            continue
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["content-type"] == "application/problem+json"


def test_a_revoked_or_expired_token_is_401(service):
    revoked, principal = issue_token(service.ledger, role="auditor", actor=CLI)
    expired, _ = issue_token(
        service.ledger, role="auditor", actor=CLI, expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    later, _ = issue_token(
        service.ledger, role="auditor", actor=CLI, expires_at=datetime.now(UTC) + timedelta(days=1)
    )
    revoke_token(service.ledger, str(principal.id), "left the job", actor=CLI)
    for token, status in ((revoked, 401), (expired, 401), (later, 200)):
        response = Caller(service.client, token).get("/v1/projections")
        assert response.status_code == status, response.text
    assert "revoked" in Caller(service.client, revoked).get("/v1/projections").json()["detail"]


# The console's pages (api/pages): who may open each. Their refusals (sign-in, 403 for a role,
# CSRF) are proven in test_pages_session.py and test_pages_queues.py.
PAGE_ROLES = {"admin", "province", "site"}
EXPECTED_PAGE_ROLES = {
    ("GET", "/console/login"): PUBLIC,
    ("POST", "/console/login"): PUBLIC,
    ("POST", "/console/logout"): PUBLIC,  # ends whatever session the cookie names
    ("GET", "/console/"): PAGE_ROLES,
    ("GET", "/console/sites"): {"admin", "province"},
    ("POST", "/console/sites/{site_id}/review"): {"admin", "province"},
    ("GET", "/console/corrections"): PAGE_ROLES,
    ("POST", "/console/corrections/{request_id}/assign"): PAGE_ROLES,
    ("POST", "/console/corrections/{request_id}/resolve"): PAGE_ROLES,
    ("GET", "/console/persons"): PAGE_ROLES,
    ("GET", "/console/persons/{person_id}"): PAGE_ROLES,
    ("GET", "/console/persons/{person_id}/qr/{form}"): PAGE_ROLES,
    ("GET", "/console/duplicates"): {"admin", "province"},
    ("GET", "/console/duplicates/compare"): {"admin", "province"},
    ("POST", "/console/duplicates/merge"): {"admin", "province"},  # as POST /v1/persons/{id}/merge
    ("POST", "/console/duplicates/unmerge"): {"admin", "province"},
    ("GET", "/console/flags"): {"admin", "province"},
    ("POST", "/console/flags/resolve"): {"admin", "province"},
    ("GET", "/console/duplicates/export"): {"admin", "province"},
    ("GET", "/console/flags/export"): {"admin", "province"},
    ("GET", "/console/sites/export"): {"admin", "province"},
    ("GET", "/console/corrections/export"): PAGE_ROLES,
    ("GET", "/console/localities/{code}/export"): {"admin", "province"},
    ("GET", "/console/localities"): {"admin", "province"},
    ("GET", "/console/localities/{code}"): {"admin", "province"},
}


def test_every_console_page_declares_the_roles_it_is_given():
    from api.pages.session import SignedIn

    found = {}
    for router in ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.path.startswith("/console"):
                guards = [d.call for d in route.dependant.dependencies if isinstance(d.call, SignedIn)]
                for method in route.methods:
                    found[(method, route.path)] = set(guards[0].roles) if guards else PUBLIC
    assert found == EXPECTED_PAGE_ROLES
