"""Certificates: `issue` signs and records the current versions that have no issuance yet.

After a rebuild of the certificates view (which signs nothing), or once signing keys exist, the
current version of every certificate without an Issuance is signed once and recorded; those
already issued are left as they are, so running it again issues nothing.
"""

from __future__ import annotations

import argparse
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from config.settings import Settings

if TYPE_CHECKING:
    from usecases.issuance import Sign

log = logging.getLogger("issuance")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("issue", help="sign and record the current versions that have no issuance")


def signing_from_env(settings: Settings | None = None) -> Sign | None:
    """The deployment's signing keys (DOSELEDGER_SIGNING_KEYS_DIR, opened with its passphrase)
    as the issuer's signing function; None when there is no key, or the keys cannot be opened
    (said in the log: certificates are then not signed, and the rest runs)."""
    from signing.documents import Signers, sign_version
    from signing.keys import SigningKeys, SigningKeysError

    try:
        signers = Signers.from_settings(settings or Settings(), SigningKeys.from_env())
    except SigningKeysError as error:
        log.error("the certificate signing keys cannot be used: %s", error)
        return None
    if not signers.signs:
        return None

    def sign(certified: Any, certificate_id: str, key: bytes, now: datetime) -> Any:
        return sign_version(certified, certificate_id, key, signers, now)

    return sign


def run(args: argparse.Namespace) -> int:
    from projections.running import issue_missing

    issued = issue_missing(sign=signing_from_env())
    if issued is None:
        print("doseledger: no certificate signing keys: nothing was signed")
        return 2
    print(f"{issued} certificate versions issued")
    return 0
