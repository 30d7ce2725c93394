"""Recount doses and statuses from the event store and compare them with the views.

Prints every difference; exits 1 if there is any. First, finishes any erasure the ledger
records whose data key is still held (an erasure interrupted after its event, or a key table
restored from a backup older than the erasure): that key is destroyed now, and named.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds to wait for the views to catch up first (default 30)",
    )


def run(args: argparse.Namespace) -> int:
    from projections import open_views
    from projections.reconcile import reconcile
    from usecases.application import DoseLedger

    with DoseLedger() as ledger:
        for person_id in ledger.finish_erasures():
            print(f"erasure of person {person_id} finished: its data key was still held, now destroyed")
    with open_views() as views:
        result = reconcile(views, timeout=args.timeout)
    where = ", ".join(f"{name} at {position}" for name, position in result.positions.items())
    for line in result.differences:
        print(line)
    if result.differences:
        print(f"{len(result.differences)} differences ({where})")
        return 1
    print(f"no differences ({where})")
    return 0
