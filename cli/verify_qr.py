"""Verify an EU DCC (`HC1:`) or SMART Health Card (`shc:/`) payload, offline.

doseledger verify-qr TEXT|FILE [--at 2026-12-06T10:00:00+07:00]
doseledger verify-qr FILE --trust-list trust-list.json          # DSCs as GET /v1/trust-list gives
doseledger verify-qr FILE --jwks jwks.json --issuer https://…   # a SMART Health Cards issuer
doseledger verify-qr FILE --crl crl.json                         # that issuer's revocation list

Without a trust list or JWKS it trusts this deployment's keys (DOSELEDGER_SIGNING_KEYS_DIR) and
looks revocations up in this deployment's store. Prints the verdict as JSON; exit 0 when valid,
1 when not, 2 when the command itself could not run (a file missing, a trust list unreadable).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from api.verify.router import ViewRevocations
from config.settings import Settings
from signing import shc
from signing.keys import SigningKeys
from signing.trust import TrustList
from signing.verify import Revocations, verify_qr


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("payload", metavar="TEXT|FILE", help="the scanned text, or a file holding it")
    parser.add_argument("--at", type=_moment, help="the clock, ISO 8601 with a time zone (default: now)")
    parser.add_argument("--trust-list", type=Path, help="a JSON list of DSCs (kid, rawData) to trust")
    parser.add_argument("--jwks", type=Path, help="a SMART Health Cards issuer's JWKS to trust")
    parser.add_argument("--issuer", help="the issuer URL the --jwks belongs to")
    parser.add_argument("--crl", type=Path, help="a SMART Health Cards revocation list ({kid, rids})")
    parser.add_argument(
        "--offline", action="store_true", help="look nothing up in this deployment's store (revocations)"
    )


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone")
    return moment


def run(args: argparse.Namespace) -> int:
    revocations: Revocations | None = None
    try:
        scanned = _scanned(args.payload)
        trust = _trust(args)
        if args.crl is not None:
            revocations = _CrlRevocations(json.loads(args.crl.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"doseledger verify-qr: {error}", file=sys.stderr)
        return 2
    own = args.trust_list is None and args.jwks is None
    at = args.at or datetime.now(UTC)
    if args.crl is None and own and not args.offline:
        with _store_revocations() as views:
            verdict = verify_qr(scanned, trust, at=at, revocations=ViewRevocations(views))
    else:
        verdict = verify_qr(scanned, trust, at=at, revocations=revocations)
    print(json.dumps(verdict.as_dict(), ensure_ascii=False, indent=2))
    return 0 if verdict.valid else 1


def _scanned(payload: str) -> str:
    path = Path(payload)
    if len(payload) < 4096 and not payload.upper().startswith(("HC1:", "SHC:/")) and path.exists():
        return path.read_text(encoding="utf-8")
    return payload


def _trust(args: argparse.Namespace) -> TrustList:
    if args.trust_list is None and args.jwks is None:
        settings = Settings()
        env = (
            {"DOSELEDGER_SIGNING_KEYS_DIR": settings.signing_keys_dir} if settings.signing_keys_dir else None
        )
        return SigningKeys.from_env(env).trust(settings.certificate_issuer_url)
    trust = TrustList()
    if args.trust_list is not None:
        trust = TrustList.from_gateway(json.loads(args.trust_list.read_text()))
    if args.jwks is not None:
        if not args.issuer:
            raise ValueError("--jwks needs --issuer, the URL the keys belong to")
        trust.add_jwks(args.issuer, json.loads(args.jwks.read_text()))
    return trust


class _CrlRevocations:
    """A SMART Health Cards issuer's revocation list, given as a file."""

    def __init__(self, crl: Any) -> None:
        if not isinstance(crl, dict):
            raise ValueError("--crl: not a revocation list ({kid, method, ctr, rids})")
        self.revoked = shc.crl_revoked(crl)

    def dcc_revoked(self, uvci: str, country: str) -> str | None:
        return None

    def shc_revoked(self, issuer: str, kid: str, rid: str, nbf: int) -> str | None:
        return self.revoked(issuer, kid, rid, nbf)


@contextmanager
def _store_revocations() -> Iterator[Any]:
    """This deployment's views (their issuances are its revocations), closed after the look."""
    from projections import open_views

    views = open_views(Settings().database_url)
    try:
        yield views
    finally:
        views.close()
