"""A site token's look-up answers what a vaccinator needs and no more; other roles as before."""

from __future__ import annotations

from api.app import create_app
from api.persons.router import site_summaries
from tests.api.conftest import dose, lan
from tests.api.test_doses import SITE

PERSON = lan()
FORBIDDEN_TO_SITES = ("1985-03-14", "001185012345", "0912345678", "12 Phố Huế", "Ba Đình")


def two_doses(service) -> tuple[str, int]:
    site = service.caller("site", **SITE)
    first = site.post("/v1/doses", json=dose("S1", person=PERSON)).json()
    second = site.post(
        "/v1/doses", json=dose("S2", administered_at="2021-08-29T10:15:00+07:00", person=PERSON)
    ).json()
    assert second["person_id"] == first["person_id"]
    return first["person_id"], second["position"]


def test_a_site_look_up_answers_id_name_birth_year_status_and_doses_only(service):
    person_id, position = two_doses(service)
    site = service.caller("site", **SITE)
    for key in ({"national_id": "001185012345"}, {"phone": "0912345678"}):
        answer = site.get("/v1/persons", params={**key, "min_position": position})
        assert answer.status_code == 200, answer.text
        [found] = answer.json()["persons"]
        assert found == {
            "person_id": person_id,
            "full_name": "Nguyễn Thị Lan",
            "birth_year": 1985,
            "status": "complete",
            "doses": [
                {
                    "vaccine": "EU/1/20/1528",
                    "administered_on": "2021-08-01",
                    "dose_number": 1,
                    "booster": False,
                },
                {
                    "vaccine": "EU/1/20/1528",
                    "administered_on": "2021-08-29",
                    "dose_number": 2,
                    "booster": False,
                },
            ],
        }
        for value in FORBIDDEN_TO_SITES:
            assert value not in answer.text, value


def test_other_roles_keep_the_full_answer(service):
    person_id, position = two_doses(service)
    for caller in (
        service.caller("province", provinces=["01"]),
        service.caller("admin"),
        service.caller("auditor"),
    ):
        answer = caller.get("/v1/persons", params={"national_id": "001185012345", "min_position": position})
        assert answer.json()["persons"] == [
            {
                "person_id": person_id,
                "full_name": "Nguyễn Thị Lan",
                "birth_date": "1985-03-14",
                "province": "01",
                "district": "Ba Đình",
                "status": "complete",
            }
        ]


class NoCertificatesYet:
    """The views as they are while the certificates view lags the localities view."""

    class certificates:  # stands in for the view of that name
        @staticmethod
        def certificates(person_ids: list[str]) -> dict:
            return {}


def test_a_person_the_certificates_view_has_not_seen_yet_shows_no_doses():
    found = {
        "person_id": "6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e",
        "full_name": "A",
        "birth_date": "1990-01-02",
    }
    [summary] = site_summaries(NoCertificatesYet(), [{**found, "status": "none"}])
    assert (summary.birth_year, summary.doses, summary.status) == (1990, [], "none")


def test_the_openapi_document_shows_both_answers():
    spec = create_app(views=object()).openapi()
    answer = spec["paths"]["/v1/persons"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert sorted(s["$ref"].rsplit("/", 1)[1] for s in answer["anyOf"]) == ["PersonList", "SitePersonList"]
    site = spec["components"]["schemas"]["SitePersonSummary"]["properties"]
    assert set(site) == {"person_id", "full_name", "birth_year", "status", "doses"}
    assert set(spec["components"]["schemas"]["SiteDose"]["properties"]) == {
        "vaccine",
        "administered_on",
        "dose_number",
        "booster",
    }
