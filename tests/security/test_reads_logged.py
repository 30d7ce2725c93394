"""Every read of a person's data is logged: each endpoint that answers a person's data, called by
each role allowed to call it, leaves an access-log row naming that principal and that person.

READS is the table of those endpoints. The route walk below fails when a route that takes a
`person_id` in its path, or answers a model naming a person, is neither in READS nor in NOT_READS
(with the reason it reads nobody's data), or when READS's roles differ from the route's own: a new
endpoint or a newly allowed role cannot slip by unlogged.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel

from api.app import ROUTERS
from api.audit.pages import COOKIE, PAGE_ROLES
from api.pages.session import PAGE_ROLES as CONSOLE_PAGE_ROLES
from api.pages.session import SignedIn
from config.settings import Settings
from ledger.principal import Principal
from ledger.values import Actor
from tests.api.conftest import CLI, dose, lan
from tests.api.pages import sign_in
from tests.api.signed import issue_current
from tests.api.test_access import declared_roles
from usecases.principals import issue_token

SYSTEM = Actor("tests", "admin")
SITE_ID = "01-TYT-001"
SCOPE = {"site": {"sites": [SITE_ID]}, "province": {"provinces": ["01"]}}
# A response model with any of these fields (at any depth) tells the caller about a person.
PERSON_FIELDS = frozenset({"person_id", "full_name", "national_id", "phone", "birth_date", "address"})


@pytest.fixture
def settings(store_url: str) -> Settings:
    """The reads here wait for the views as a client would (the security suite's 0.2 s is for
    its fuzzing): a loaded machine's projector may take longer than that to reach a new dose."""
    return Settings(database_url=store_url, read_wait_seconds=5)


class World:
    """A person of province 01 with a dose at site 01-TYT-001 and an open correction request."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger
        ledger.register_site(SITE_ID, name="Trạm Y tế Ba Đình", kind="official", province="01", actor=SYSTEM)
        self.person: UUID = ledger.record_dose(actor=SYSTEM, person=lan(), **dose("R1")).person_id
        claim = {"vaccine": "Pfizer", "administered_at": "2021-09-01", "site_id": SITE_ID}
        filed = ledger.request_correction(self.person, "missing_dose", claim, actor=SYSTEM)
        ledger.assign_correction(filed.request_id, {"site": SITE_ID}, actor=SYSTEM)

    def now(self) -> dict[str, int]:
        return {"min_position": self.ledger.head()}

    def twin(self) -> UUID:
        """Another person with the person's name and birth date (a possible duplicate)."""
        if not hasattr(self, "_twin"):
            self._twin = self.ledger.register_person(lan(national_id=None), actor=SYSTEM).person_id
        return self._twin

    def twinned(self) -> int:
        """The position a read waits for once the person has a twin."""
        self.twin()
        return self.ledger.head()

    def flagged(self) -> int:
        """The position a read waits for once the person has a flagged dose (a reported number
        that is not the computed one)."""
        if not hasattr(self, "_flagged"):
            self._flagged = self.ledger.record_dose(
                actor=SYSTEM, person_id=self.person, **dose("R9", dose_number=9)
            )
        return self.ledger.head()

    def signed(self) -> UUID:
        """The person, their certificate's current version signed."""
        issue_current(self.ledger)
        return self.person


def fhir_match() -> dict[str, Any]:
    """A FHIR transaction of one dose for lan()'s details, as a Patient with her national id."""
    person = lan()
    patient = {
        "resourceType": "Patient",
        "name": [{"text": person["full_name"]}],
        "birthDate": person["birth_date"],
        "identifier": [{"type": {"coding": [{"code": "NI"}]}, "value": person["national_id"]}],
        "address": [{"state": person["province"]}],
    }
    immunization = {
        "resourceType": "Immunization",
        "status": "completed",
        "identifier": [{"system": "urn:test", "value": f"M-{uuid4().hex}"}],
        "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "208"}]},
        "patient": {"reference": "urn:uuid:patient"},
        "occurrenceDateTime": "2021-09-01",
        "location": {"identifier": {"value": SITE_ID}},
    }
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"fullUrl": "urn:uuid:patient", "resource": patient}, {"resource": immunization}],
    }


@dataclass(frozen=True)
class Read:
    roles: frozenset[str]
    what: str  # the access log's `what` for this read
    request: Callable[[World], tuple[str, str, dict[str, Any]]]  # method, url, httpx kwargs
    page: bool = False  # an auditor's HTML page: the token goes in the sign-in cookie
    console: bool = False  # an officials' page (api/pages): signed in through its form first


OFFICIALS = frozenset({"admin", "site", "province", "auditor"})
CONSOLE_ROLES = frozenset(CONSOLE_PAGE_ROLES)
AUDIT = frozenset({"admin", "auditor"})

READS: dict[tuple[str, str], Read] = {
    ("GET", "/v1/certificates/{person_id}"): Read(
        OFFICIALS, "certificate", lambda w: ("GET", f"/v1/certificates/{w.person}", {"params": w.now()})
    ),
    **{
        ("GET", f"/v1/certificates/{{person_id}}/{form}"): Read(
            OFFICIALS,
            f"certificate.{form}",
            lambda w, form=form: ("GET", f"/v1/certificates/{w.signed()}/{form}", {"params": w.now()}),
        )
        for form in ("dcc", "shc")
    },
    ("GET", "/v1/persons"): Read(
        OFFICIALS,
        "persons.look_up",
        lambda w: ("GET", "/v1/persons", {"params": {"phone": lan()["phone"], **w.now()}}),
    ),
    # A dose sent with the details of a person whose national id is held: the answer names them.
    ("POST", "/v1/doses"): Read(
        frozenset({"admin", "site"}),
        "doses.person_match",
        lambda w: ("POST", "/v1/doses", {"json": dose(f"M-{uuid4().hex}", person=lan())}),
    ),
    ("POST", "/v1/doses/batch"): Read(
        frozenset({"admin", "site"}),
        "doses.person_match",
        lambda w: ("POST", "/v1/doses/batch", {"json": {"doses": [dose(f"M-{uuid4().hex}", person=lan())]}}),
    ),
    ("POST", "/v1/persons"): Read(
        frozenset({"admin", "site"}),
        "persons.register",  # an existing national id answers with its person
        lambda w: ("POST", "/v1/persons", {"json": lan()}),
    ),
    **{
        ("GET", f"/v1/audit/persons/{{person_id}}/{name}"): Read(
            AUDIT,
            f"audit.{name}",
            lambda w, name=name, params=params: (
                "GET",
                f"/v1/audit/persons/{w.person}/{name}",
                {"params": params},
            ),
        )
        for name, params in (
            ("history", {}),
            ("state", {"as_of": "1"}),
            ("diff", {"from": "0", "to": "1"}),
            ("explain", {}),
            ("verify", {}),
        )
    },
    ("GET", "/v1/audit/access"): Read(
        AUDIT, "access.log", lambda w: ("GET", "/v1/audit/access", {"params": {"person_id": str(w.person)}})
    ),
    ("GET", "/v1/audit/access/report"): Read(
        AUDIT,
        "access.report",
        lambda w: ("GET", "/v1/audit/access/report", {"params": {"person_id": str(w.person)}}),
    ),
    ("GET", "/v1/correction-requests"): Read(
        frozenset({"admin", "province", "auditor"}),
        "corrections.list",
        lambda w: ("GET", "/v1/correction-requests", {"params": {"province": "01", **w.now()}}),
    ),
    ("GET", "/v1/localities/{code}/people"): Read(
        frozenset({"admin", "province", "auditor"}),
        "localities.people",
        lambda w: ("GET", "/v1/localities/01/people", {"params": w.now()}),
    ),
    ("GET", "/v1/fhir/Patient/{person_id}/$everything"): Read(
        OFFICIALS, "fhir.everything", lambda w: ("GET", f"/v1/fhir/Patient/{w.person}/$everything", {})
    ),
    ("GET", "/v1/fhir/Immunization"): Read(
        OFFICIALS,
        "fhir.immunization_search",
        lambda w: ("GET", "/v1/fhir/Immunization", {"params": {"patient": str(w.person)}}),
    ),
    # A Patient sent with the national id of a person already held: the answer names them.
    ("POST", "/v1/fhir"): Read(
        frozenset({"admin", "site"}),
        "fhir.transaction",
        lambda w: ("POST", "/v1/fhir", {"json": fhir_match()}),
    ),
    ("GET", "/v1/review/duplicates"): Read(
        frozenset({"admin", "province", "auditor"}),
        "review.duplicates",
        lambda w: ("GET", "/v1/review/duplicates", {"params": {"min_position": w.twinned()}}),
    ),
    ("GET", "/v1/review/duplicates/compare"): Read(
        frozenset({"admin", "province", "auditor"}),
        "review.compare",
        lambda w: (
            "GET",
            "/v1/review/duplicates/compare",
            {"params": {"a": str(w.person), "b": str(w.twin()), **w.now()}},
        ),
    ),
    ("GET", "/v1/review/flags"): Read(
        frozenset({"admin", "province", "auditor"}),
        "review.flags",
        lambda w: ("GET", "/v1/review/flags", {"params": {"min_position": w.flagged()}}),
    ),
    ("GET", "/v1/sites/{site_id}/doses"): Read(
        frozenset({"admin", "site", "province"}),
        "sites.doses",
        lambda w: ("GET", f"/v1/sites/{SITE_ID}/doses", {}),
    ),
    ("GET", "/audit/persons/{person_id}"): Read(
        frozenset(PAGE_ROLES), "audit.page", lambda w: ("GET", f"/audit/persons/{w.person}", {}), page=True
    ),
    ("GET", "/console/persons/{person_id}"): Read(
        CONSOLE_ROLES, "pages.person", lambda w: ("GET", f"/console/persons/{w.person}", {}), console=True
    ),
    ("GET", "/console/persons/{person_id}/qr/{form}"): Read(
        CONSOLE_ROLES,
        "pages.certificate.shc",
        lambda w: ("GET", f"/console/persons/{w.signed()}/qr/shc", {}),
        console=True,
    ),
    ("GET", "/console/corrections"): Read(
        CONSOLE_ROLES, "pages.corrections", lambda w: ("GET", "/console/corrections", {}), console=True
    ),
}

# Routes that name a person and read nobody's data: writes, answering the id of the person the
# caller itself wrote to (a dose, an amendment, a merge, a correction request worked).
NOT_READS = {
    ("POST", "/v1/doses/{dose_id}/amend"): "a write: the id of the dose's person",
    ("POST", "/v1/doses/{dose_id}/void"): "a write: the id of the dose's person",
    (
        "POST",
        "/v1/persons/{person_id}/merge",
    ): "a write (admin): the surviving person's id, given by the caller",
    (
        "POST",
        "/v1/persons/{person_id}/erasure",
    ): "a write (admin): the erased person's id, given by the caller; nothing of theirs is left to read",
    (
        "POST",
        "/v1/persons/{person_id}/unmerge",
    ): "a write (admin): the surviving person's id, given by the caller",
    ("POST", "/v1/review/flags/resolution"): "a write: the id of the flagged dose's person",
    ("POST", "/v1/correction-requests/{request_id}/assign"): "a write: the id of the request's person",
    ("POST", "/v1/correction-requests/{request_id}/resolve"): "a write: the id of the request's person",
}


def _field_names(model: Any, seen: set[type]) -> set[str]:
    if not (isinstance(model, type) and issubclass(model, BaseModel)) or model in seen:
        return set()
    seen.add(model)
    names = set(model.model_fields)
    for field in model.model_fields.values():
        pending = [field.annotation]
        while pending:
            annotation = pending.pop()
            names |= _field_names(annotation, seen)
            pending.extend(typing.get_args(annotation))
    return names


def names_a_person(route: APIRoute) -> bool:
    return "person_id" in {p.name for p in route.dependant.path_params} or bool(
        _field_names(route.response_model, set()) & PERSON_FIELDS
    )


def routes() -> dict[tuple[str, str], APIRoute]:
    return {
        (method, route.path): route
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }


def test_every_route_that_names_a_person_is_in_the_table_with_the_roles_it_allows():
    served = routes()
    naming = {key for key, route in served.items() if names_a_person(route)}
    assert naming - set(READS) - set(NOT_READS) == set(), "add these to READS (and log them) or NOT_READS"
    assert set(READS) <= set(served) and set(NOT_READS) <= set(served)
    assert not set(READS) & set(NOT_READS)
    for key, read in READS.items():
        allowed = (
            PAGE_ROLES
            if read.page
            else console_roles(served[key])
            if read.console
            else declared_roles(served[key])
        )
        assert set(read.roles) == set(allowed), key


def console_roles(route: APIRoute) -> set[str]:
    return {
        role for d in route.dependant.dependencies if isinstance(d.call, SignedIn) for role in d.call.roles
    }


def test_the_walk_finds_a_new_route_that_names_a_person():
    # The walk above is only as good as what it finds: a route it must flag, by path or by model.
    class Answer(BaseModel):
        people: list[dict[str, str]]
        full_name: str

    by_path = APIRoute("/v1/new/{person_id}", lambda person_id: None)
    by_model = APIRoute("/v1/new", lambda: None, response_model=Answer)
    neither = APIRoute("/v1/sites-new", lambda: None, response_model=None)
    assert [names_a_person(r) for r in (by_path, by_model, neither)] == [True, True, False]


def call(service: Any, world: World, read: Read, token: str) -> Any:
    method, url, kwargs = read.request(world)
    if read.page:
        return service.client.request(method, url, headers={"Cookie": f"{COOKIE}={token}"}, **kwargs)
    if read.console:
        # A page has no min_position: it shows what the views hold, so the test lets them
        # reach what the world wrote first, as an official's browser would after a moment.
        assert service.app.state.views.wait(service.ledger.head(), 10)
        service.client.cookies.clear()
        assert sign_in(service.client, token).status_code == 303
        return service.client.request(method, url, **kwargs)
    return service.client.request(method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs)


@pytest.mark.parametrize("key", sorted(READS), ids=lambda key: f"{key[0]} {key[1]}")
def test_each_role_reading_a_persons_data_leaves_a_row_naming_it_and_the_person(service, key):
    world = World(service.ledger)
    read = READS[key]
    for role in sorted(read.roles):
        token, principal = issue_token(service.ledger, role=role, actor=CLI, **SCOPE.get(role, {}))
        response = call(service, world, read, token)
        assert 200 <= response.status_code < 300, (role, response.text)
        rows = logged(service, principal)
        assert (str(world.person), read.what, role) in rows, (role, rows)


def logged(service: Any, principal: Principal) -> set[tuple[str, str, str]]:
    rows, _ = service.ledger.access_log.find(principal_id=str(principal.id), limit=1000)
    return {(r.person_id, r.what, r.role) for r in rows}
