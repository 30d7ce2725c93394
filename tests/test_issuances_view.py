"""The issuances view on both stores: what was signed per version, the EU DCC revocation list,
the SMART Health Card CRLs, and the verifier's lookups."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.errors import InvalidValue
from ledger.issuance import Issuance
from projections import open_views
from projections.engine.tables import TrackingConflict
from projections.issuances import Issuances
from projections.running import rebuild, start_embedded
from projections.views import construct_view
from tests.readside import FAST, caught_up

SYSTEM = {"principal_id": "issuer", "role": "system"}
DCC_KID = base64.b64encode(b"\x01" * 8).decode()
OTHER_DCC_KID = base64.b64encode(b"\x02" * 8).decode()
SHC_KID = "t" * 43


def dcc_entry(uvci: str, kid: str = DCC_KID, exp: int = 1_900_000_000) -> dict[str, Any]:
    return {
        "uvci": uvci,
        "kid": kid,
        "iss": "VN",
        "iat": 1_800_000_000,
        "exp": exp,
        "is": "Ministry of Health of Viet Nam",
        "co": "VN",
        "signature": base64.b64encode(b"s" * 64).decode(),
    }


def shc_entry(rid: str, kid: str = SHC_KID) -> dict[str, Any]:
    return {
        "rid": rid,
        "kid": kid,
        "iss": "https://doseledger.example",
        "nbf": 1_800_000_000,
        "signature": "c2ln",
    }


def issue(ledger, person_id: str, version: int, uvcis: list[str], rid: str | None, **dcc: Any) -> Issuance:
    issuance = Issuance.issue(
        uuid.uuid4(),
        person_id,
        version,
        f"{version:064x}",
        1,
        [dcc_entry(u, **dcc) for u in uvcis],
        shc_entry(rid) if rid else None,
        SYSTEM,
    )
    ledger.save(issuance)
    return issuance


def revoke(ledger, issuance: Issuance, reason: str, successor: Issuance | None) -> None:
    issuance.revoke(reason, str(successor.id) if successor else None, SYSTEM)
    ledger.save(issuance)


def expected_hash(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()[:16]).decode()


@pytest.fixture
def projection(ledger):
    return Issuances(view=construct_view(ledger, Issuances))


def fold(projection, ledger, after: int | None = None) -> int:
    notifications = ledger.recorder.select_notifications(start=(after or 0) + 1, limit=10_000)
    return projection.process_notifications(notifications, ledger.mapper, after=after)


PERSON = str(uuid.uuid4())


def test_an_issuance_reads_back_with_its_entries_and_nothing_revoked(ledger, projection):
    first = issue(ledger, PERSON, 1, ["URN:UVCI:01:VN:AAA#1", "URN:UVCI:01:VN:BBB#2"], "rid-one")
    fold(projection, ledger)
    found = projection.view.issued(str(first.id))
    assert found is not None
    assert (found["person_id"], found["version"], found["rules_version"]) == (PERSON, 1, 1)
    assert [e["uvci"] for e in found["dcc"]] == ["URN:UVCI:01:VN:AAA#1", "URN:UVCI:01:VN:BBB#2"]
    assert found["shc"]["rid"] == "rid-one" and found["revoked"] is None
    assert datetime.fromisoformat(found["issued_at"]).tzinfo is not None
    assert projection.view.issued(str(uuid.uuid4())) is None
    assert projection.view.is_revoked_uvci("URN:UVCI:01:VN:AAA#1") is None
    assert projection.view.is_revoked_rid(SHC_KID, "rid-one") is None
    assert projection.view.revoked_dcc() == ([], None)
    assert projection.view.crl(SHC_KID) == {"kid": SHC_KID, "method": "rid", "ctr": 0, "rids": []}
    assert projection.view.crl("never-signed") is None


def test_a_revoked_version_is_listed_with_both_hash_types_and_in_the_crl(ledger, projection):
    first = issue(ledger, PERSON, 1, ["URN:UVCI:01:VN:AAA#1"], "rid-one")
    position = fold(projection, ledger)
    second = issue(ledger, PERSON, 2, ["URN:UVCI:01:VN:AAA#3", "URN:UVCI:01:VN:CCC#4"], "rid-two")
    revoke(ledger, first, "dose-added", second)
    fold(projection, ledger, after=position)  # the revocation folded in a later page than its issuance

    found = projection.view.issued(str(first.id))
    assert found["revoked"]["reason"] == "dose-added" and found["revoked"]["successor"] == str(second.id)
    revoked_at = datetime.fromisoformat(found["revoked"]["at"])
    assert projection.view.issued(str(second.id))["revoked"] is None

    batches, following = projection.view.revoked_dcc()
    assert following is None
    assert [(b["kid"], b["hashType"], b["country"]) for b in batches] == [
        (DCC_KID, "UCI", "VN"),
        (DCC_KID, "COUNTRYCODEUCI", "VN"),
    ]
    assert batches[0]["hashes"] == [expected_hash("URN:UVCI:01:VN:AAA#1")]
    assert batches[1]["hashes"] == [expected_hash("VNURN:UVCI:01:VN:AAA#1")]
    assert all(len(base64.b64decode(h)) == 16 for b in batches for h in b["hashes"])
    assert batches[0]["expires"] == datetime.fromtimestamp(1_900_000_000, UTC).isoformat()

    assert projection.view.is_revoked_uvci("URN:UVCI:01:VN:AAA#1") == "dose-added"
    assert projection.view.is_revoked_uvci("URN:UVCI:01:VN:AAA#3") is None
    assert projection.view.is_revoked_rid(SHC_KID, "rid-one") == "dose-added"
    assert projection.view.is_revoked_rid(SHC_KID, "rid-two") is None
    assert projection.view.is_revoked_rid("another-kid", "rid-one") is None
    assert projection.view.crl(SHC_KID) == {
        "kid": SHC_KID,
        "method": "rid",
        "ctr": 1,
        "rids": [f"rid-one.{int(revoked_at.timestamp()) + 1}"],
    }


def test_the_revocation_list_pages_by_cursor_and_groups_by_kid(ledger, projection):
    revoked_uvcis = []
    for n in range(5):
        kid = DCC_KID if n % 2 else OTHER_DCC_KID
        uvci = f"URN:UVCI:01:VN:P{n}#X"
        issuance = issue(ledger, str(uuid.uuid4()), 1, [uvci], None, kid=kid)
        revoke(ledger, issuance, "voided", None)
        revoked_uvcis.append((kid, uvci))
    fold(projection, ledger)

    seen: list[tuple[str, str]] = []
    cursor = None
    pages = 0
    while True:
        batches, cursor = projection.view.revoked_dcc(cursor, limit=2)
        pages += 1
        for batch in batches:
            assert batch["hashType"] in ("UCI", "COUNTRYCODEUCI")
            if batch["hashType"] == "UCI":
                seen.extend((batch["kid"], h) for h in batch["hashes"])
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted((kid, expected_hash(uvci)) for kid, uvci in revoked_uvcis)

    everything, last = projection.view.revoked_dcc(limit=10)
    assert last is None and sum(len(b["hashes"]) for b in everything) == 10  # 5 revoked × 2 types
    _, cursor = projection.view.revoked_dcc(limit=5)
    assert cursor is None  # exactly five: no next page


def test_a_cursor_kept_by_a_client_gives_only_later_revocations(ledger, projection):
    first = issue(ledger, PERSON, 1, ["URN:UVCI:01:VN:OLD#1"], None)
    revoke(ledger, first, "amended", None)
    keep = issue(ledger, str(uuid.uuid4()), 1, ["URN:UVCI:01:VN:KEEP#1"], None)
    revoke(ledger, keep, "amended", None)
    position = fold(projection, ledger)
    _, cursor = projection.view.revoked_dcc(limit=1)
    assert cursor is not None
    later = issue(ledger, str(uuid.uuid4()), 1, ["URN:UVCI:01:VN:NEW#1"], None)
    revoke(ledger, later, "voided", None)
    fold(projection, ledger, after=position)
    batches, following = projection.view.revoked_dcc(cursor, limit=10)
    uci = [b for b in batches if b["hashType"] == "UCI"]
    assert sorted(h for b in uci for h in b["hashes"]) == sorted(
        [expected_hash("URN:UVCI:01:VN:KEEP#1"), expected_hash("URN:UVCI:01:VN:NEW#1")]
    )
    assert following is None


@pytest.mark.parametrize("cursor", ["not-a-cursor", "W10", base64.urlsafe_b64encode(b'["a", 1]').decode()])
def test_a_cursor_the_list_never_gave_is_refused_naming_it(ledger, projection, cursor):
    with pytest.raises(InvalidValue) as refused:
        projection.view.revoked_dcc(cursor)
    assert refused.value.field == "cursor"


def test_a_limit_out_of_range_is_refused_naming_it(ledger, projection):
    for limit in (0, 10_001):
        with pytest.raises(InvalidValue) as refused:
            projection.view.revoked_dcc(limit=limit)
        assert refused.value.field == "limit"


def test_a_page_applied_twice_is_refused_and_changes_nothing(ledger, projection):
    issue(ledger, PERSON, 1, ["URN:UVCI:01:VN:AAA#1"], "rid-one")
    position = fold(projection, ledger)
    with pytest.raises(TrackingConflict):
        fold(projection, ledger)
    assert projection.view.position() == position
    assert len(projection.view.every()) == 1


def test_the_running_projector_keeps_the_view_and_a_rebuild_gives_the_same(ledger, store_url):
    first = issue(ledger, PERSON, 1, ["URN:UVCI:01:VN:AAA#1"], "rid-one")
    second = issue(ledger, PERSON, 2, ["URN:UVCI:01:VN:AAA#2"], "rid-two")
    revoke(ledger, first, "amended", second)
    with open_views(store_url) as views:
        with start_embedded(store_url, **FAST):
            caught_up(views, ledger)
        live = (views.issuances.every(), views.issuances.revoked_dcc(), views.issuances.crl(SHC_KID))
        assert views.issuances.issued(str(first.id))["revoked"]["reason"] == "amended"
        assert [r["certificate_id"] for r in views.issuances.of_person(PERSON)] == [
            str(first.id),
            str(second.id),
        ]
        rebuilt = rebuild(store_url, "issuances", progress=False)
        assert [(r.name, r.position) for r in rebuilt] == [("issuances", ledger.head())]
        assert (views.issuances.every(), views.issuances.revoked_dcc(), views.issuances.crl(SHC_KID)) == live
