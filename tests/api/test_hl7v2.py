"""`POST /v1/hl7v2`: HL7 v2 in the body, one ACK per message out, as application/hl7-v2."""

from __future__ import annotations

import hl7
import pytest

from config.settings import Settings
from tests.test_hl7 import CDC, cp1258, message

HL7 = {"Content-Type": "application/hl7-v2"}


@pytest.fixture
def settings(store_url: str) -> Settings:
    """CDC's US test messages: no Vietnamese province, placeholder CVX codes."""
    return Settings(
        database_url=store_url, read_wait_seconds=5, feed_default_province="01", feed_test_codes=True
    )


def acks(response) -> list[hl7.Message]:
    """The ACK messages of an answer, in order."""
    text = response.text
    return [hl7.parse("MSH" + part) for part in text.split("MSH")[1:]]


def test_an_admin_sends_a_batch_and_gets_one_ack_per_message_in_order(service):
    admin = service.caller("admin")
    body = message("H1", record="R1") + message("H2", record="R2", cvx="999") + message("H3", record="R3")
    response = admin.post("/v1/hl7v2", content=body.encode(), headers=HL7)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/hl7-v2; charset=utf-8"
    answered = acks(response)
    assert [(str(a.segment("MSA")[1]), str(a.segment("MSA")[2])) for a in answered] == [
        ("AA", "H1"),
        ("AE", "H2"),
        ("AA", "H3"),
    ]
    assert str(answered[1].segment("ERR")[2]) == "RXA^1^5"
    again = admin.post("/v1/hl7v2", content=body.encode(), headers={"Content-Type": "text/plain"})
    assert [str(a.segment("MSA")[1]) for a in acks(again)] == ["AA", "AE", "AA"]


def test_a_site_token_books_its_own_sites_messages_and_gets_ar_for_another_site(service):
    site = service.caller("site", sites=["HN-001"])
    body = message("S1", site="HN-001", record="R1") + message("S2", site="HCM-9", record="R2")
    response = site.post("/v1/hl7v2", content=body.encode(), headers=HL7)
    assert response.status_code == 200, response.text
    assert [str(a.segment("MSA")[1]) for a in acks(response)] == ["AA", "AR"]
    assert "outside the sender" in response.text
    assert service.ledger.site("HCM-9") is None  # nothing of the refused message stored


def test_windows_1258_bodies_are_read_by_their_charset(service):
    response = service.caller("admin").post(
        "/v1/hl7v2", content=cp1258(message("W1", charset="CP1258")), headers=HL7
    )
    assert [str(a.segment("MSA")[1]) for a in acks(response)] == ["AA"]


def test_cdc_testgood_is_all_aa_and_the_profile_is_asked_for_by_the_sender(service):
    admin = service.caller("admin")
    good = admin.post("/v1/hl7v2", content=(CDC / "testgood.hl7").read_bytes(), headers=HL7)
    assert [str(a.segment("MSA")[1]) for a in acks(good)] == ["AA"] * 33
    body = (CDC / "testerror.hl7").read_bytes()
    plain = admin.post("/v1/hl7v2", content=body, headers=HL7)
    profiled = admin.post("/v1/hl7v2", content=body, headers=HL7, params={"profile": "cdc-covid"})
    assert plain.status_code == profiled.status_code == 200
    assert profiled.text.count("|W|") > plain.text.count("|W|")
    assert admin.post("/v1/hl7v2", content=body, headers=HL7, params={"profile": "x"}).status_code == 422


def test_an_empty_body_or_another_media_type_is_a_problem_not_an_ack(service):
    admin = service.caller("admin")
    empty = admin.post("/v1/hl7v2", content=b"  \r\n", headers=HL7)
    assert empty.status_code == 422 and empty.json()["errors"][0]["loc"] == ["body"]
    json_body = admin.post("/v1/hl7v2", json={"msh": 1})
    assert json_body.status_code == 415
    junk = admin.post("/v1/hl7v2", content=b"\x00\xff not hl7", headers=HL7)
    assert junk.status_code == 200 and "MSA|AR|" in junk.text
