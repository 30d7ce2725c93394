"""Signing in the API's tests: the certificates' issuer with the test run's keys
(tests/conftest.py makes them), and the current versions issued on demand."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from config.settings import Settings
from ledger.certification import Certified
from projections import open_views
from projections.certificates import Certificates
from projections.engine.stores import construct_view
from signing.documents import Signers, sign_version
from signing.keys import SigningKeys
from usecases.issuance import Issuer, Sign


def run_keys_sign(ledger: Any) -> Sign:
    """`sign_version` with the run's keys (the issuer hands it the ledger's key of certificate
    ids, `ledger.ids.derived(CERTIFICATES)`)."""
    signers = Signers.from_settings(Settings(), SigningKeys.from_env())

    def sign(certified: Certified, certificate_id: str, key: bytes, now: datetime) -> Any:
        return sign_version(certified, certificate_id, key, signers, now)

    return sign


def issue_current(ledger: Any) -> None:
    """Once the certificates view has folded the ledger, every current version without an
    issuance is signed and recorded (what the projector's issuer does as it folds)."""
    views = open_views(ledger=ledger)
    try:
        assert views.wait(ledger.head(), timeout=10), views.status()
    finally:
        views.close()
    projection = Certificates(view=construct_view(ledger, Certificates))
    projection.issue_missing(Issuer(ledger, run_keys_sign(ledger)))
