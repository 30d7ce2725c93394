"""A person's signed forms over HTTP, on both stores: the EU DCCs and the SMART Health Card the
issuer signed for the current version, assembled again from the certificates view's record."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from config.settings import Settings
from projections import open_views
from projections.running import start_embedded
from signing import dcc, shc
from signing.keys import SigningKeys
from signing.trust import TrustList
from tests.api.conftest import Service, dose, lan
from tests.api.signed import run_keys_sign
from tests.api.test_doses import SITE

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NAME_PARTS = ("Nguyễn", "Lan", "NGUYEN", "1985-03-14", "001185012345")


@contextmanager
def serving(ledger: Any, store_url: str, sign: Any, names: list[str] | None = None) -> Iterator[Service]:
    """The service, its projector's issuer signing through `sign` (None: no key, off), running
    the projections `names` (None: all)."""
    projector = start_embedded(store_url, names, sign=sign)
    try:
        views = open_views(store_url, ledger=ledger)
        app = create_app(Settings(database_url=store_url, read_wait_seconds=5), ledger=ledger, views=views)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Service(app, client, ledger)
    finally:
        projector.stop()


@pytest.fixture
def service(ledger, store_url: str) -> Iterator[Service]:
    """The service, its issuer signing with the test run's keys (tests/conftest.py)."""
    with serving(ledger, store_url, run_keys_sign(ledger)) as service:
        yield service


@pytest.fixture
def unsigned(ledger, store_url: str, tmp_path, monkeypatch) -> Iterator[Service]:
    """The service with no signing keys: the issuer is off, nothing is signed."""
    monkeypatch.setenv("DOSELEDGER_SIGNING_KEYS_DIR", str(tmp_path / "no-keys"))
    with serving(ledger, store_url, None) as service:
        yield service


def vaccinated(service: Service, doses: int = 2) -> tuple[str, int]:
    """A person of province 01 with `doses` doses of Comirnaty: their id and the last position."""
    site = service.caller("site", **SITE)
    first = site.post("/v1/doses", json=dose("S1", person=lan(), administered_at="2021-07-01"))
    assert first.status_code == 201, first.text
    person_id, position = first.json()["person_id"], first.json()["position"]
    for n in range(2, doses + 1):
        later = site.post(
            "/v1/doses", json=dose(f"S{n}", person_id=person_id, administered_at=f"2021-0{6 + n}-01")
        )
        assert later.status_code == 201, later.text
        position = later.json()["position"]
    return person_id, position


def trust(service: Service) -> TrustList:
    return SigningKeys.from_env().trust(service.app.state.settings.certificate_issuer_url)


def soon() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=1)


def png_size(image: bytes) -> tuple[int, int]:
    """The width and height of a PNG, from its IHDR chunk (checked by its CRC)."""
    assert image[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", image[8:16])
    assert kind == b"IHDR" and length == 13
    data, crc = image[16:29], struct.unpack(">I", image[29:33])[0]
    assert zlib.crc32(kind + data) == crc
    return struct.unpack(">II", data[:8])


def test_the_dcc_route_answers_one_verifying_dcc_per_dose(service):
    person_id, position = vaccinated(service)
    auditor = service.caller("auditor")
    certificate = auditor.get(f"/v1/certificates/{person_id}", params={"min_position": position}).json()
    response = auditor.get(f"/v1/certificates/{person_id}/dcc", params={"min_position": position})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert (body["certificate_id"], body["version"]) == (
        certificate["certificate_id"],
        certificate["version"],
    )
    documents = body["documents"]
    assert [(d["dn"], d["sd"]) for d in documents] == [(1, 2), (2, 2)]
    assert body["uvci"] == [d["uvci"] for d in documents] and body["qr"] == documents[-1]["qr"]
    trusted = trust(service)
    for document, day in zip(documents, ("2021-07-01", "2021-08-01"), strict=True):
        verdict = dcc.verify(document["qr"], trusted, at=soon())
        assert verdict.valid, verdict.reasons
        assert verdict.kid == body["kid"]
        payload = verdict.payload
        assert payload is not None
        [vaccination] = payload["v"]
        assert (vaccination["dt"], vaccination["dn"], vaccination["sd"]) == (
            day,
            document["dn"],
            document["sd"],
        )
        assert vaccination["ci"] == document["uvci"] and vaccination["mp"] == "EU/1/20/1528"
        assert payload["dob"] == "1985-03-14" and payload["nam"]["fnt"] == "NGUYEN"


def test_the_shc_route_answers_a_verifying_card_with_every_dose(service):
    person_id, position = vaccinated(service)
    response = service.caller("province", provinces=["01"]).get(
        f"/v1/certificates/{person_id}/shc", params={"min_position": position}
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert shc.jws_from_qr(body["qr"]) == body["jws"]
    verdict = shc.verify(body["qr"], trust(service), at=soon())
    assert verdict.valid, verdict.reasons
    entries = verdict.payload["vc"]["credentialSubject"]["fhirBundle"]["entry"]
    resources = [e["resource"] for e in entries]
    assert [r["birthDate"] for r in resources if r["resourceType"] == "Patient"] == ["1985-03-14"]
    assert [r["occurrenceDateTime"] for r in resources if r["resourceType"] == "Immunization"] == [
        "2021-07-01",
        "2021-08-01",
    ]


def test_with_accept_png_the_routes_answer_qr_images(service):
    person_id, position = vaccinated(service, doses=1)
    auditor = service.caller("auditor")
    params = {"min_position": position}
    image = auditor.get(f"/v1/certificates/{person_id}/dcc", params=params, headers={"Accept": "image/png"})
    assert image.status_code == 200, image.text
    assert image.headers["content-type"] == "image/png" and image.headers["cache-control"] == "no-store"
    width, height = png_size(image.content)
    assert width == height > 100
    card = auditor.get(
        f"/v1/certificates/{person_id}/shc", params={**params, "chunk": 1}, headers={"Accept": "image/png"}
    )
    assert card.status_code == 200 and png_size(card.content)[0] > 100
    past = auditor.get(
        f"/v1/certificates/{person_id}/shc", params={**params, "chunk": 9}, headers={"Accept": "image/png"}
    )
    assert past.status_code == 422 and past.json()["errors"][0]["loc"] == ["query", "chunk"]


def test_an_unknown_person_is_404_problem_json(service):
    for form in ("dcc", "shc"):
        response = service.caller("auditor").get(
            f"/v1/certificates/6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e/{form}"
        )
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["loc"] == ["path", "person_id"]


def test_a_version_that_certifies_nothing_is_409_with_no_personal_data(service):
    site = service.caller("site", **SITE)
    recorded = site.post("/v1/doses", json=dose("V1", person=lan())).json()
    voided = site.post(f"/v1/doses/{recorded['dose_id']}/void", json={"reason": "entered twice"}).json()
    for form in ("dcc", "shc"):
        response = service.caller("auditor").get(
            f"/v1/certificates/{recorded['person_id']}/{form}", params={"min_position": voided["position"]}
        )
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "not issued" in response.json()["detail"]
        assert not any(part in response.text for part in NAME_PARTS)


def test_an_erased_persons_forms_are_revoked_and_answer_409(service):
    person_id, position = vaccinated(service, doses=1)
    auditor = service.caller("auditor")
    issued = auditor.get(f"/v1/certificates/{person_id}/dcc", params={"min_position": position}).json()
    erased = service.caller("admin").post(f"/v1/persons/{person_id}/erasure", json={"reason": "asked"})
    assert erased.status_code == 200, erased.text
    for form in ("dcc", "shc"):
        response = auditor.get(
            f"/v1/certificates/{person_id}/{form}", params={"min_position": erased.json()["position"]}
        )
        assert response.status_code == 409, response.text
        assert not any(part in response.text for part in NAME_PARTS)
    assert service.app.state.views.wait(service.ledger.head(), timeout=10)
    [uvci] = issued["uvci"]
    assert service.app.state.views.issuances.is_revoked_uvci(uvci) == "erased"


def test_a_version_the_issuer_has_not_signed_is_409_not_issued_yet(unsigned):
    person_id, position = vaccinated(unsigned, doses=1)
    certificate = unsigned.caller("auditor").get(
        f"/v1/certificates/{person_id}", params={"min_position": position}
    )
    assert certificate.status_code == 200 and certificate.json()["certificate_id"] is not None
    for form in ("dcc", "shc"):
        response = unsigned.caller("auditor").get(
            f"/v1/certificates/{person_id}/{form}", params={"min_position": position}
        )
        assert response.status_code == 409, response.text
        assert "not issued yet" in response.json()["detail"]
        assert not any(part in response.text for part in NAME_PARTS)


def test_forms_are_served_from_the_issuance_before_the_issuances_view_folds_it(ledger, store_url):
    with serving(ledger, store_url, run_keys_sign(ledger), names=["certificates"]) as service:
        person_id, position = vaccinated(service, doses=1)
        views = service.app.state.views
        deadline = time.monotonic() + 10
        while (views.certificates.position() or 0) < position and time.monotonic() < deadline:
            time.sleep(0.02)
        response = service.caller("auditor").get(f"/v1/certificates/{person_id}/dcc")
        assert response.status_code == 200, response.text
        assert views.issuances.position() is None  # that view does not run here
        assert views.issuances.issued(response.json()["certificate_id"]) is None
        verdict = dcc.verify(response.json()["qr"], trust(service), at=soon())
        assert verdict.valid, verdict.reasons


def test_who_may_read_the_signed_forms_is_who_may_read_the_certificate(service):
    person_id, position = vaccinated(service, doses=1)
    params = {"min_position": position}
    for form in ("dcc", "shc"):
        url = f"/v1/certificates/{person_id}/{form}"
        for role, scope, status in [
            ("admin", {}, 200),
            ("auditor", {}, 200),
            ("site", {"sites": ["79-TYT-001"]}, 200),  # a site reads any person's certificate
            ("province", {"provinces": ["01"]}, 200),
            ("province", {"provinces": ["79"]}, 403),
            ("reporter", {}, 403),
            ("portal", {}, 403),
        ]:
            response = service.caller(role, **scope).get(url, params=params)
            assert response.status_code == status, (form, role, scope, response.text)
        assert service.anonymous().get(url, params=params).status_code == 401


def test_each_read_of_a_signed_form_is_logged(service):
    person_id, position = vaccinated(service, doses=1)
    params = {"min_position": position}
    auditor = service.caller("auditor")
    assert auditor.get(f"/v1/certificates/{person_id}/dcc", params=params).status_code == 200
    assert auditor.get(f"/v1/certificates/{person_id}/shc", params=params).status_code == 200
    image = auditor.get(f"/v1/certificates/{person_id}/dcc", params=params, headers={"Accept": "image/png"})
    assert image.status_code == 200
    service.caller("reporter").get(f"/v1/certificates/{person_id}/dcc", params=params)  # refused: not logged
    log = service.caller("admin").get("/v1/audit/access", params={"person_id": person_id})
    assert log.status_code == 200, log.text
    reads = [(r["role"], r["what"]) for r in log.json()["reads"] if r["what"].startswith("certificate.")]
    assert reads == [
        ("auditor", "certificate.dcc"),
        ("auditor", "certificate.shc"),
        ("auditor", "certificate.dcc"),
    ]


def digest(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()[:16]).decode()


def revoked_uvci_check(service: Service) -> Any:
    return lambda uvci, country: service.app.state.views.issuances.is_revoked_uvci(uvci)


def test_an_amended_dose_revokes_the_old_forms_and_signs_new_ones(service):
    site = service.caller("site", **SITE)
    recorded = site.post("/v1/doses", json=dose("A1", person=lan())).json()
    person_id = recorded["person_id"]
    auditor = service.caller("auditor")
    old_dcc = auditor.get(
        f"/v1/certificates/{person_id}/dcc", params={"min_position": recorded["position"]}
    ).json()
    old_shc = auditor.get(
        f"/v1/certificates/{person_id}/shc", params={"min_position": recorded["position"]}
    ).json()
    amended = site.post(
        f"/v1/doses/{recorded['dose_id']}/amend", json={"lot": "FA9999", "reason": "mistyped"}
    ).json()
    new_dcc = auditor.get(
        f"/v1/certificates/{person_id}/dcc", params={"min_position": amended["position"]}
    ).json()
    assert new_dcc["certificate_id"] != old_dcc["certificate_id"] and new_dcc["uvci"] != old_dcc["uvci"]
    assert new_dcc["version"] == old_dcc["version"] + 1

    trusted = trust(service)
    # The issuances view follows the issuer: wait for it to fold the revocation.
    assert service.app.state.views.wait(service.ledger.head(), timeout=10)
    revoked = dcc.verify(old_dcc["qr"], trusted, at=soon(), revoked=revoked_uvci_check(service))
    assert revoked.revoked and not revoked.valid
    current = dcc.verify(new_dcc["qr"], trusted, at=soon(), revoked=revoked_uvci_check(service))
    assert current.valid, current.reasons
    listed = service.anonymous().get("/v1/revocations").json()
    hashes = {(b["kid"], b["hashType"]): set(b["hashes"]) for b in listed}
    [old_uvci] = old_dcc["uvci"]
    assert hashes[(old_dcc["kid"], "UCI")] == {digest(old_uvci)}
    assert hashes[(old_dcc["kid"], "COUNTRYCODEUCI")] == {digest("VN" + old_uvci)}

    kid = shc.decode(old_shc["jws"]).header["kid"]
    crl = service.anonymous().get(f"/.well-known/crl/{kid}.json")
    assert crl.status_code == 200, crl.text
    assert crl.json()["ctr"] >= 1
    check = shc.crl_revoked(crl.json())
    assert shc.verify(old_shc["qr"], trusted, at=soon(), revoked=check).revoked
    new_shc = auditor.get(
        f"/v1/certificates/{person_id}/shc", params={"min_position": amended["position"]}
    ).json()
    assert shc.verify(new_shc["qr"], trusted, at=soon(), revoked=check).valid


def test_a_name_a_dcc_cannot_carry_is_409_no_dcc_and_the_card_is_served(service):
    """A name with no ICAO 9303 form gets no EU DCC: the route says so (409, naming no part of
    the name); the SMART Health Card carries the name as written and verifies."""
    name = "李小龍"
    site = service.caller("site", **SITE)
    recorded = site.post("/v1/doses", json=dose("C1", person=lan(full_name=name, national_id="001185000077")))
    assert recorded.status_code == 201, recorded.text
    person_id, position = recorded.json()["person_id"], recorded.json()["position"]
    auditor = service.caller("auditor")
    response = auditor.get(f"/v1/certificates/{person_id}/dcc", params={"min_position": position})
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "no EU DCC for this version" in response.json()["detail"]
    assert "ICAO 9303" in response.json()["detail"]
    assert name not in response.text and "001185000077" not in response.text
    card = auditor.get(f"/v1/certificates/{person_id}/shc", params={"min_position": position})
    assert card.status_code == 200, card.text
    verdict = shc.verify(card.json()["qr"], trust(service), at=soon())
    assert verdict.valid, verdict.reasons
    entries = verdict.payload["vc"]["credentialSubject"]["fhirBundle"]["entry"]
    [patient] = [e["resource"] for e in entries if e["resource"]["resourceType"] == "Patient"]
    assert name in json.dumps(patient, ensure_ascii=False)
