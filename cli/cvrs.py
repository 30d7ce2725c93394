"""Book a CDC CVRS flat file (tab-delimited, one vaccination event a row) into the ledger.

  doseledger cvrs FILE [--dry-run] [--province CODE] [--test-codes] [--json]

Each row is booked through the same path as its HL7 v2 twin; the same file twice books nothing
new. Exit status: 0 every row booked (or no dose to book), 2 some rows refused, 1 the file
refused whole (not a CVRS, missing columns, empty).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from config.settings import Settings
from intake.cvrs import CvrsRefused
from intake.cvrs.booking import book_file, report
from intake.feeds import REFUSED
from ledger.values import Actor
from usecases.application import DoseLedger

SHOWN_ROWS = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="the CVRS .txt file")
    parser.add_argument("--dry-run", action="store_true", help="check and map every row, store nothing")
    parser.add_argument(
        "--province",
        metavar="CODE",
        help="the people's province when neither the row nor its site in the directory gives one "
        "(default: the setting DOSELEDGER_FEED_DEFAULT_PROVINCE)",
    )
    parser.add_argument(
        "--test-codes", action="store_true", help="take CDC's placeholder CVX 900-902 (test files only)"
    )
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    try:
        data = args.file.read_bytes()
    except OSError as error:
        console.print(f"[red]Cannot read the file: {error.strerror}[/red]")
        return 1
    settings = Settings()
    try:
        with DoseLedger() as ledger:
            outcomes = book_file(
                ledger,
                data,
                Actor(f"cli:{getpass.getuser()}", "admin"),
                default_province=args.province or settings.feed_default_province,
                test_codes=args.test_codes or settings.feed_test_codes,
                dry_run=args.dry_run,
            )
    except CvrsRefused as refused:
        console.print(f"[red]File refused, nothing booked: {refused.reason}[/red]")
        return 1
    result = report(outcomes)
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        _print(result, args.dry_run)
    return 2 if result["counts"].get(REFUSED) else 0


def _print(result: dict[str, object], dry_run: bool) -> None:
    out = Console()
    if dry_run:
        out.print("Dry run: every row checked, nothing stored.")
    counts = result["counts"]
    assert isinstance(counts, dict)
    out.print(f"{result['rows']} rows: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    rows = [r for r in result["results"] if r["issues"]]  # type: ignore[attr-defined]
    if not rows:
        return
    table = Table(title=f"Rows with issues: first {min(SHOWN_ROWS, len(rows))} of {len(rows)}")
    for name in ("line", "vax_event_id", "status", "column", "issue"):
        table.add_column(name)
    for r in rows[:SHOWN_ROWS]:
        for i in r["issues"]:
            table.add_row(
                str(r["line"]), r["vax_event_id"], r["status"], i["column"], f"{i['severity']}: {i['reason']}"
            )
    out.print(table)
