"""The citizens' page over HTTP, on both stores: finding one's certificate with a certificate
code and birth date or a correction request's id and code, its QR images, filing a correction
and checking it; wrong values answered alike, attempts limited per address, forms only from
this site's pages, bad input named beside its field with nothing stored."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from config.settings import Settings
from projections import open_views
from projections.running import start_embedded
from tests.api.conftest import Service, dose, lan
from tests.api.signed import run_keys_sign
from usecases.certificate_codes import CertificateCodes

LIMIT = 8  # look-ups a minute from one address, in this module
SITE = {"sites": ["01-TYT-001"]}
NOT_FOUND_VI = "Không tìm thấy với các thông tin này. Hãy kiểm tra và thử lại."
NOT_FOUND_EN = "Nothing was found with these values. Check them and try again."
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@contextmanager
def serving(ledger: Any, store_url: str, limit: int = LIMIT) -> Iterator[Service]:
    """The service, its projector signing the certificates with the test run's keys."""
    projector = start_embedded(store_url, sign=run_keys_sign(ledger))
    try:
        views = open_views(store_url, ledger=ledger)
        settings = Settings(database_url=store_url, read_wait_seconds=5, status_checks_per_minute=limit)
        with TestClient(
            create_app(settings, ledger=ledger, views=views), raise_server_exceptions=False
        ) as client:
            yield Service(client.app, client, ledger)  # type: ignore[arg-type]
    finally:
        projector.stop()


@pytest.fixture
def service(ledger, store_url: str) -> Iterator[Service]:
    with serving(ledger, store_url) as service:
        yield service


def vaccinated(service: Service) -> dict[str, Any]:
    """Lan with two doses, both certified and signed: the dose answer's fields."""
    site = service.caller("site", **SITE)
    first = site.post("/v1/doses", json=dose("C1", person=lan(), administered_at="2021-07-01"))
    assert first.status_code == 201, first.text
    second = site.post("/v1/doses", json=dose("C2", person_id=first.json()["person_id"]))
    assert second.status_code == 201, second.text
    answer = second.json()
    signed = service.caller("auditor").get(
        f"/v1/certificates/{answer['person_id']}/dcc", params={"min_position": answer["position"]}
    )
    assert signed.status_code == 200, signed.text
    return answer


def csrf(client: TestClient, lang: str | None = None) -> str:
    page = client.get("/citizen/", params={"lang": lang} if lang else None)
    assert page.status_code == 200
    found = CSRF.search(page.text)
    assert found
    return found.group(1)


def find_by_code(client: TestClient, code: str, birth_date: str, **headers: str) -> Any:
    data = {"way": "certificate", "certificate_code": code, "birth_date": birth_date, "csrf": csrf(client)}
    return client.post("/citizen/lookup", data=data, headers=headers, follow_redirects=False)


def citizen_reads(service: Service) -> list[tuple[str, str, str]]:
    reads, _ = service.ledger.access_log.find(principal_id="citizen-page")
    return [(r.role, r.what, r.person_id) for r in reads]


def test_the_dose_answer_gives_a_code_that_names_the_person_under_the_deployment_s_key(service):
    answer = vaccinated(service)
    code = answer["certificate_code"]
    assert re.fullmatch(r"[0-7][0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{5}){4}-[0-9A-HJKMNP-TV-Z]", code)
    codes = CertificateCodes(service.ledger.ids)
    assert codes.person_id(code) == UUID(answer["person_id"])
    assert codes.person_id(code.lower().replace("-", " ").replace("0", "o")) == UUID(answer["person_id"])
    assert "1985" not in code and "Lan" not in code
    # Another deployment's secret makes another code for the same person.
    from ledger.keys import IdKey

    assert (
        CertificateCodes(IdKey(b"another deployment's secret, 32+")).code(UUID(answer["person_id"])) != code
    )


def test_a_code_is_the_enciphered_id_in_crockford_base32_digit_by_digit(ledger):
    """The code as defined (the id's AES block as a 130-bit number, 5 bits a digit, the first
    carrying the top 3), worked out here the long way: codes are printed and must never change."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from usecases.certificate_codes import ALPHABET, PURPOSE

    cipher = Cipher(algorithms.AES(ledger.ids.derived(PURPOSE)), modes.ECB())
    codes = CertificateCodes(ledger.ids)
    ids = [
        UUID(int=0),
        UUID(int=2**128 - 1),
        UUID(int=1),
        *(UUID(int=(k * 0x9E3779B97F4A7C15) % 2**128) for k in range(500)),
    ]
    for person_id in ids:
        encryptor = cipher.encryptor()
        number = int.from_bytes(encryptor.update(person_id.bytes) + encryptor.finalize())
        digits = "".join(ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(26)))
        assert codes.code(person_id) == "-".join(digits[i : i + 5] for i in range(0, 26, 5))
        assert codes.person_id(codes.code(person_id)) == person_id


def test_a_citizen_finds_their_certificate_with_the_code_and_birth_date_and_sees_its_qr_codes(service):
    answer = vaccinated(service)
    client = service.client
    found = find_by_code(client, answer["certificate_code"], "1985-03-14")
    assert found.status_code == 303 and found.headers["location"] == "/citizen/certificate"
    page = client.get("/citizen/certificate")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "Nguyễn Thị Lan" in page.text and answer["certificate_code"] in page.text
    assert page.text.count('<tr class="dose">') == 2 and "FA1234" in page.text
    assert "Đã tiêm" in page.text  # the status, in Vietnamese by default
    images = re.findall(r'src="(/citizen/qr/[^"]+)"', page.text)
    assert len(images) == 2
    assert answer["person_id"] not in "".join(images) and "1985" not in "".join(images)
    for url in images:
        image = client.get(url)
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert image.content[:8] == b"\x89PNG\r\n\x1a\n" and image.headers["cache-control"] == "no-store"
    pid = answer["person_id"]
    assert citizen_reads(service) == [
        ("portal", "citizen.certificate", pid),
        ("portal", "citizen.certificate.dcc", pid),
        ("portal", "citizen.certificate.shc", pid),
    ]
    # The image keys are the session's: another browser (no session, or another's) gets nothing.
    assert TestClient(service.app).get(images[0]).status_code == 404
    assert client.get(images[0].replace("/qr/", "/qr/x")).status_code == 404


@pytest.mark.parametrize("lang, message", [("vi", NOT_FOUND_VI), ("en", NOT_FOUND_EN)])
def test_a_wrong_code_or_birth_date_answers_the_same_not_found(service, lang, message):
    answer = vaccinated(service)
    code = answer["certificate_code"]
    other = CertificateCodes(service.ledger.ids).code(UUID(int=12345))  # a well-formed code of no one
    client = service.client
    csrf(client, lang)
    pages = [
        find_by_code(client, code, "1985-03-15"),
        find_by_code(client, other, "1985-03-14"),
        find_by_code(client, "00000-00000-00000-00000-00000-0", "1985-03-14"),
        find_by_code(client, "not a code", "1985-03-14"),
    ]
    for page in pages:
        assert page.status_code == 404 and message in page.text
        assert "doseledger_citizen=" not in page.headers.get("set-cookie", "")
    bodies = {re.sub(r'value="[^"]*"', "", p.text) for p in pages}
    assert len(bodies) == 1  # the same page, whatever was wrong (the typed values aside)
    assert client.get("/citizen/certificate", follow_redirects=False).headers["location"] == "/citizen/"
    assert citizen_reads(service) == []


def test_look_ups_are_limited_per_address_then_refused_with_retry_after(ledger, store_url):
    with serving(ledger, store_url, limit=2) as service:
        answer = vaccinated(service)
        client = service.client
        for _ in range(2):
            assert find_by_code(client, answer["certificate_code"], "2000-01-01").status_code == 404
        refused = find_by_code(client, answer["certificate_code"], "1985-03-14")  # right, but over
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "Quá nhiều lần thử từ địa chỉ này" in refused.text
        data = {"status_request_id": str(UUID(int=1)), "status_code": "x", "csrf": csrf(client)}
        assert client.post("/citizen/status", data=data).status_code == 429
        # Another address has its own count.
        other = TestClient(service.app, client=("192.0.2.9", 50000))
        assert find_by_code(other, answer["certificate_code"], "1985-03-14").status_code == 303


def test_a_form_from_another_site_or_without_its_token_is_refused(service):
    answer = vaccinated(service)
    client = service.client
    data = {"way": "certificate", "certificate_code": answer["certificate_code"], "birth_date": "1985-03-14"}
    assert client.post("/citizen/lookup", data=data).status_code == 403  # no token, no cookie
    token = csrf(client)
    assert client.post("/citizen/lookup", data={**data, "csrf": "forged"}).status_code == 403
    foreign = client.post(
        "/citizen/lookup", data={**data, "csrf": token}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403 and "doseledger_citizen=" not in foreign.headers.get("set-cookie", "")
    assert find_by_code(client, answer["certificate_code"], "1985-03-14").status_code == 303
    filing = {
        "kind": "missing_dose",
        "vaccine": "Pfizer",
        "administered_at": "2021-09-01",
        "site_id": "01-TYT-001",
    }
    head = service.ledger.head()
    assert client.post("/citizen/corrections", data={**filing, "csrf": "forged"}).status_code == 403
    assert service.ledger.head() == head


def test_missing_values_are_named_beside_their_fields_in_the_page_s_language(service):
    client = service.client
    token = csrf(client, "en")
    page = client.post("/citizen/lookup", data={"way": "certificate", "certificate_code": "", "csrf": token})
    assert page.status_code == 422
    assert re.search(r'id="certificate_code"[^>]*aria-invalid="true"', page.text)
    assert '<p class="error" id="certificate_code-error">Enter this value.</p>' in page.text
    assert '<p class="error" id="birth_date-error">Enter this value.</p>' in page.text
    csrf(client, "vi")
    page = client.post("/citizen/lookup", data={"way": "request", "request_id": "x", "csrf": token})
    assert (
        page.status_code == 422
        and '<p class="error" id="code-error">Hãy nhập thông tin này.</p>' in page.text
    )


def test_a_citizen_files_a_correction_then_checks_it_and_finds_their_certificate_with_it(service):
    answer = vaccinated(service)
    client = service.client
    assert find_by_code(client, answer["certificate_code"], "1985-03-14").status_code == 303
    page = client.get("/citizen/certificate", params={"lang": "en"})
    token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    head = service.ledger.head()
    bad = {
        "kind": "missing_dose",
        "vaccine": "Snake oil",
        "administered_at": "2021-09-01",
        "site_id": "01-TYT-001",
    }
    refused = client.post("/citizen/corrections", data={**bad, "csrf": token})
    assert refused.status_code == 422
    assert re.search(r'id="vaccine"[^>]*aria-invalid="true"', refused.text)
    assert 'id="vaccine-error">This value is not accepted. Check it and send again.</p>' in refused.text
    assert 'value="Snake oil"' in refused.text  # what was typed is kept
    missing = client.post("/citizen/corrections", data={"kind": "missing_dose", "csrf": token})
    assert missing.status_code == 422 and 'id="site_id-error">Enter this value.' in missing.text
    assert service.ledger.head() == head  # nothing stored

    filed = client.post(
        "/citizen/corrections",
        data={**bad, "vaccine": "Pfizer", "contact": "0912345678", "csrf": token},
    )
    assert filed.status_code == 201, filed.text
    request_id = re.search(r'id="request-id">([^<]+)<', filed.text).group(1)  # type: ignore[union-attr]
    code = re.search(r'id="request-code">([^<]+)<', filed.text).group(1)  # type: ignore[union-attr]
    stored = service.ledger.correction(request_id)
    assert stored["channel"] == "citizen-page" and stored["claim"]["site_id"] == "01-TYT-001"
    assert stored["person_id"] == answer["person_id"]

    fresh = TestClient(service.app)  # another browser: the id and code are all it holds
    status = fresh.post(
        "/citizen/status",
        data={"status_request_id": request_id, "status_code": code, "csrf": csrf(fresh, "en")},
    )
    assert status.status_code == 200 and 'data-status="open"' in status.text
    wrong = fresh.post(
        "/citizen/status", data={"status_request_id": request_id, "status_code": "WRONG", "csrf": csrf(fresh)}
    )
    assert wrong.status_code == 404 and NOT_FOUND_EN in wrong.text
    found = fresh.post(
        "/citizen/lookup",
        data={"way": "request", "request_id": request_id, "code": code, "csrf": csrf(fresh)},
        follow_redirects=False,
    )
    assert found.status_code == 303
    # The request's code opens the certificate, not its permanent code: that one is kept to a
    # session opened by the certificate code itself (its holder has it already).
    opened = fresh.get("/citizen/certificate").text
    assert "Nguyễn Thị Lan" in opened and 'id="doses"' in opened
    assert answer["certificate_code"] not in opened and 'id="certificate-code"' not in opened
    assert answer["certificate_code"] in client.get("/citizen/certificate").text


def test_a_citizen_session_cannot_file_correction_requests_without_limit(ledger, store_url):
    limit = 4
    with serving(ledger, store_url, limit=limit) as service:
        answer = vaccinated(service)
        client = service.client
        assert find_by_code(client, answer["certificate_code"], "1985-03-14").status_code == 303
        token = CSRF.search(client.get("/citizen/certificate").text).group(1)  # type: ignore[union-attr]
        statuses, heads = [], []
        for day in range(1, limit + 3):
            claim = {
                "kind": "missing_dose",
                "vaccine": "Pfizer",
                "administered_at": f"2021-09-{day:02d}",
                "site_id": "01-TYT-001",
                "csrf": token,
            }
            statuses.append(client.post("/citizen/corrections", data=claim))
            heads.append(service.ledger.head())
        # Every filing is stored on the person's stream and queued for officials: an anonymous
        # page files at the pace of its look-ups, per address, and says so beside the form.
        assert [r.status_code for r in statuses] == [201] * limit + [429, 429]
        assert heads[limit - 1] == heads[-1]  # nothing stored beyond the limit
        refused = statuses[-1]
        assert refused.headers["Retry-After"].isdigit()
        assert "Quá nhiều lần thử từ địa chỉ này. Hãy thử lại sau" in refused.text
        # Look-ups are counted apart: the same address may still find its certificate.
        assert find_by_code(client, answer["certificate_code"], "1985-03-14").status_code == 303


def test_a_tampered_session_or_none_opens_nothing(service):
    answer = vaccinated(service)
    client = service.client
    assert find_by_code(client, answer["certificate_code"], "1985-03-14").status_code == 303
    value = client.cookies.get("doseledger_citizen")
    assert value
    client.cookies.set("doseledger_citizen", value[:-2] + "xx", path="/citizen")
    assert client.get("/citizen/certificate", follow_redirects=False).status_code == 303
    leave = TestClient(service.app)
    assert find_by_code(leave, answer["certificate_code"], "1985-03-14").status_code == 303
    token = CSRF.search(leave.get("/citizen/certificate").text).group(1)  # type: ignore[union-attr]
    assert leave.post("/citizen/leave", data={"csrf": token}, follow_redirects=False).status_code == 303
    assert leave.get("/citizen/certificate", follow_redirects=False).status_code == 303


def test_once_the_person_is_erased_neither_their_code_nor_their_request_finds_anything(service):
    answer = vaccinated(service)
    filed = service.ledger.request_correction(
        answer["person_id"], "wrong_details", {"changes": {"phone": "0987654321"}}, channel="portal"
    )
    service.ledger.erase_person(answer["person_id"], "the person asked for it")
    client = service.client
    assert find_by_code(client, answer["certificate_code"], "1985-03-14").status_code == 404
    data = {"way": "request", "request_id": str(filed.request_id), "code": filed.code, "csrf": csrf(client)}
    assert client.post("/citizen/lookup", data=data, follow_redirects=False).status_code == 404
    assert citizen_reads(service) == []
