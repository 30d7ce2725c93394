"""Book a file of HL7 v2 VXU^V04 messages (one, a batch, or several), an ACK per message.

  doseledger hl7 FILE [--acks OUT.hl7] [--province CODE] [--test-codes] [--profile cdc-covid]
                      [--dry-run]

Prints one line per message (its number, control id, AA/AE/AR, each issue) and the totals;
`--acks` writes the ACK messages as a sender would receive them. Exit status: 0 every message
AA, 2 some were refused (AE/AR), 1 the file could not be read.
"""

from __future__ import annotations

import argparse
import getpass
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from config.settings import Settings
from intake.feeds import STATUSES
from intake.hl7v2 import receive
from intake.hl7v2.ack import AA
from intake.hl7v2.profile import PROFILES
from ledger.values import Actor
from usecases.application import DoseLedger


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="the HL7 v2 file (CR, CRLF or LF segment ends)")
    parser.add_argument("--acks", type=Path, metavar="OUT.hl7", help="write the ACK messages here")
    parser.add_argument(
        "--province",
        help="a person's province when neither the message nor the site gives one "
        "(default: $DOSELEDGER_FEED_DEFAULT_PROVINCE)",
    )
    parser.add_argument(
        "--test-codes",
        action="store_true",
        help="accept CDC's placeholder CVX codes 900-902 (test data; default: $DOSELEDGER_FEED_TEST_CODES)",
    )
    parser.add_argument(
        "--profile", choices=PROFILES, help="a message profile whose faults are reported as warnings"
    )
    parser.add_argument("--dry-run", action="store_true", help="check every message, store nothing")


def run(args: argparse.Namespace) -> int:
    console = Console(highlight=False)
    try:
        data = args.file.read_bytes()
    except OSError as error:
        console.print(f"[red]cannot read {escape(str(args.file))}: {escape(error.strerror or str(error))}[/]")
        return 1
    settings = Settings()
    with DoseLedger() as ledger:
        acks = receive(
            ledger,
            data,
            Actor(f"cli:{getpass.getuser()}", "admin"),
            default_province=args.province or settings.feed_default_province,
            test_codes=args.test_codes or settings.feed_test_codes,
            profile=args.profile,
            dry_run=args.dry_run,
        )
    if args.acks:
        args.acks.write_bytes("".join(a.ack for a in acks).encode("utf-8"))
    for a in acks:
        statuses = ", ".join(o.status for o in a.outcomes)
        colour = "green" if a.code == AA else "red"
        console.print(f"{a.number:>5} {escape(a.control_id)} [{colour}]{a.code}[/] {statuses}")
        for issue in a.issues:
            console.print(f"        {issue.severity}: {escape(issue.where)}: {escape(issue.reason)}")
    codes = Counter(a.code for a in acks)
    outcomes = Counter(o.status for a in acks for o in a.outcomes)
    console.print(
        f"{len(acks)} messages: "
        + ", ".join(f"{codes[c]} {c}" for c in ("AA", "AE", "AR"))
        + "; records: "
        + ", ".join(f"{outcomes[s]} {s}" for s in STATUSES if outcomes[s])
        + (" (dry run: nothing stored)" if args.dry_run else "")
    )
    return 0 if codes[AA] == len(acks) else 2
