"""Who read whose record: the access log, by person or principal, and a person's access report.

  doseledger access --person PERSON_ID [--principal PRINCIPAL_ID] [--since N] [--limit 100] [--json]
  doseledger access --principal PRINCIPAL_ID [--since N] [--limit 100] [--json]
  doseledger access report PERSON_ID [--json]

Rows oldest first; a page ends with the position to pass as --since for the next one. The report
is made for the person: who (role and principal) read their record, when and what, and nobody
else's data. Reading the log is itself logged, under this command's user.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import datetime
from typing import Any
from uuid import UUID

from rich.console import Console
from rich.table import Table

from ledger.rules import ICT
from usecases.access_log import PAGE_LIMIT, access_report, as_json
from usecases.application import DoseLedger

out = Console()
err = Console(stderr=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=["report"], help="report: a person's access report")
    parser.add_argument("report_person", nargs="?", metavar="PERSON_ID", help="the person of the report")
    parser.add_argument("--person", metavar="PERSON_ID", help="the reads of this person's record")
    parser.add_argument("--principal", metavar="PRINCIPAL_ID", help="the reads made by this principal")
    parser.add_argument("--since", type=int, default=0, metavar="N", help="rows after this position")
    parser.add_argument(
        "--until",
        type=int,
        default=None,
        metavar="M",
        help="rows up to this position (the first page prints it)",
    )
    parser.add_argument("--limit", type=int, default=100, help=f"rows per page (at most {PAGE_LIMIT})")
    parser.add_argument("--json", action="store_true", help="JSON for machines")


def reader() -> tuple[str, str]:
    """Who runs this command, as the log names them: the operating system's user, as admin."""
    return f"cli:{getpass.getuser()}", "admin"


def run(args: argparse.Namespace) -> int:
    if args.action == "report" and (not args.report_person or args.person or args.principal):
        return _usage("report: give one PERSON_ID (and no --person or --principal)")
    if args.action != "report" and (args.report_person or not (args.person or args.principal)):
        return _usage("give --person PERSON_ID or --principal PRINCIPAL_ID, or `report PERSON_ID`")
    if not 1 <= args.limit <= PAGE_LIMIT or args.since < 0 or (args.until is not None and args.until < 0):
        return _usage(f"--limit is 1 to {PAGE_LIMIT}, --since and --until 0 or more")
    try:
        person = str(UUID(args.report_person or args.person)) if (args.report_person or args.person) else None
    except ValueError:
        return _usage("a person id is a UUID")
    with DoseLedger() as ledger:
        if person is not None and args.action == "report":
            report = access_report(ledger.access_log, person)
            ledger.access_log.record(*reader(), [person], "access.report")
            return _print_json(report) if args.json else _print_report(report)
        until = ledger.access_log.last_position() if args.until is None else args.until
        rows, next_since = ledger.access_log.find(
            person_id=person,
            principal_id=args.principal,
            since_position=args.since,
            limit=args.limit,
            until_position=until,
        )
        # The log says whose records a principal read: reading it is a read of those people.
        read = {r.person_id for r in rows} | ({person} if person else set())
        ledger.access_log.record(*reader(), read, "access.log")
        reads = [as_json(r) for r in rows]
        if args.json:
            return _print_json({"reads": reads, "next_since_position": next_since, "until_position": until})
        return _print_reads(reads, next_since, until)


def _usage(message: str) -> int:
    err.print(f"doseledger access: {message}")
    return 2


def _when(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(ICT).strftime("%Y-%m-%d %H:%M:%S")


def _print_reads(reads: list[dict[str, Any]], next_since: int | None, until: int) -> int:
    table = Table(title=f"access log ({len(reads)} rows, oldest first)")
    for column in ("pos", "read (ICT)", "principal", "role", "person", "what", "client"):
        table.add_column(column, justify="right" if column == "pos" else "left")
    for r in reads:
        table.add_row(
            str(r["position"]),
            _when(r["read_at"]),
            r["principal_id"],
            r["role"],
            r["person_id"],
            r["what"],
            r["client"] or "-",
        )
    out.print(table)
    if next_since is not None:
        out.print(f"more: --since {next_since} --until {until}")
    return 0


def _print_report(report: dict[str, Any]) -> int:
    out.print(f"Who read the record of {report['person_id']} ({len(report['reads'])} reads)")
    readers = Table(title="by reader")
    for column in ("principal", "role", "reads", "first (ICT)", "last (ICT)"):
        readers.add_column(column)
    for r in report["readers"]:
        readers.add_row(r["principal_id"], r["role"], str(r["reads"]), _when(r["first"]), _when(r["last"]))
    out.print(readers)
    reads = Table(title="every read, oldest first")
    for column in ("read (ICT)", "role", "principal", "what"):
        reads.add_column(column)
    for r in report["reads"]:
        reads.add_row(_when(r["read_at"]), r["role"], r["principal_id"], r["what"])
    out.print(reads)
    return 0


def _print_json(value: Any) -> int:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")
    return 0
