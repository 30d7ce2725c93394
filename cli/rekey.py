"""Rekey a store made before ids were keyed (once; running it again appends nothing).

Appends every person's national id claim and identity key under ids keyed with the ids secret
(DOSELEDGER_SECRETS_DIR; made now if there is none), then records the secret's fingerprint.
Stop the service first: no ledger starts on such a store until this has run.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--batch", type=int, default=500, help="keys read and appended per transaction (default 500)"
    )


def run(args: argparse.Namespace) -> int:
    from usecases.application import DoseLedger
    from usecases.rekey import rekey

    if args.batch < 1:
        print("doseledger rekey: --batch must be at least 1", file=sys.stderr)
        return 2
    with DoseLedger(unkeyed_ok=True) as ledger:
        done = rekey(ledger, batch=args.batch, progress=lambda line: print(line, file=sys.stderr))
    if done.appended:
        recorded = "recorded" if done.fingerprint_recorded else "already recorded"
        print(f"rekeyed {done.people} people: {done.appended} keys appended; the ids secret {recorded}")
    else:
        print(f"nothing to do: the {done.people} people's keys are keyed and the ids secret recorded")
    return 0
