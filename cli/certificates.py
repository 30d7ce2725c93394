"""Certificates: `issue` signs and records the current versions that have no issuance yet.

After a rebuild of the certificates view (which signs nothing), or once signing keys exist, the
current version of every certificate without an Issuance is signed once and recorded; those
already issued are left as they are, so running it again issues nothing.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("issue", help="sign and record the current versions that have no issuance")


def run(args: argparse.Namespace) -> int:
    from projections.running import issue_missing

    issued = issue_missing()
    if issued is None:
        print("doseledger: no certificate signing keys: nothing was signed")
        return 2
    print(f"{issued} certificate versions issued")
    return 0
