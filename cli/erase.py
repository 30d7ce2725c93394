"""Erase a person's personal data: the person's data key is destroyed, the events stay.

  doseledger erase PERSON_ID --reason TEXT

Name, birth date, national id, phone, address, correction claims and contacts can no longer be
read anywhere (the views mask them; the doses and the counts stay). The national id is released.
Exit 2 when refused: unknown person, already erased (an interrupted erasure is finished then).
"""

from __future__ import annotations

import argparse
import getpass

from ledger.errors import LedgerError
from ledger.values import Actor
from usecases.application import DoseLedger


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("person_id", metavar="PERSON_ID")
    parser.add_argument("--reason", required=True, help="why (the request's reference; no personal data)")


def run(args: argparse.Namespace) -> int:
    actor = Actor(f"cli:{getpass.getuser()}", "admin")
    with DoseLedger() as ledger:
        try:
            written = ledger.erase_person(args.person_id, args.reason, actor=actor, source={"kind": "cli"})
        except LedgerError as error:
            print(f"doseledger erase: {error.field}: {error.message}")
            return 2
    print(f"erased person {written.aggregate_id} (position {written.position})")
    return 0
