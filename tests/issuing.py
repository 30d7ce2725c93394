"""Shared by the issuer's tests: a signing function that counts its calls, and the issuances a
ledger holds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import AggregateNotFoundError

from ledger.certification import Certified, shc_rid, uvci
from ledger.issuance import Issuance
from projections import Views, open_views
from projections.running import EmbeddedProjector, start_embedded
from tests.readside import FAST


class CountingSign:
    """Entries of the Issued event's shape, one DCC per dose and an SHC, and every call kept:
    a version signed twice shows here."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(
        self, certified: Certified, certificate_id: str, key: bytes, now: datetime
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        self.calls.append(certificate_id)
        dcc = [
            {
                "uvci": uvci(certificate_id, n, key),
                "kid": "AAECAwQFBgc=",
                "iss": "VN",
                "is": "Ministry of Health",
                "co": "VN",
                "iat": int(now.timestamp()),
                "exp": int(now.timestamp()) + 86400,
                "signature": "c2lnbmF0dXJl",
            }
            for n, _ in enumerate(certified.doses)
        ]
        shc = {
            "rid": shc_rid(certificate_id, key),
            "kid": "thumbprint",
            "iss": "https://example",
            "nbf": 0,
            "signature": "c2ln",
        }
        return dcc, shc


@pytest.fixture
def sign() -> CountingSign:
    return CountingSign()


@pytest.fixture
def signing_views(store_url: str, ledger: Any, sign: CountingSign) -> Iterator[Views]:
    """The views, with the projections running and the certificates' issuer signing through `sign`."""
    running: EmbeddedProjector = start_embedded(store_url, sign=sign, **FAST)
    opened = open_views(store_url)
    yield opened
    opened.close()
    running.stop()


def issuance(ledger: Any, certificate_id: str | None) -> Issuance | None:
    if certificate_id is None:
        return None
    try:
        found = ledger.repository.get(UUID(certificate_id))
    except AggregateNotFoundError:
        return None
    assert isinstance(found, Issuance)
    return found


def revocation(ledger: Any, certificate_id: str) -> tuple[str | None, str | None]:
    """(reason, successor) of an issued version's revocation ((None, None): not revoked)."""
    issued = issuance(ledger, certificate_id)
    assert issued is not None, f"{certificate_id} was never issued"
    return issued.revoked, issued.successor


VERSION_2 = Path(__file__).with_name("series-rules") / "2.json"  # boosters after Jcovden: 2/2, not 2/1


def adopt_version_2(ledger: Any) -> None:
    from ledger.values import Actor
    from usecases.series_rules import adopt

    adopt(ledger, json.loads(VERSION_2.read_text("utf-8")), "tests: a renumbering", Actor("admin-1", "admin"))
