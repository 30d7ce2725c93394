"""Retro-import a CSV or XLSX file of past doses, or of sites' daily tallies (its header says
which), or write a blank template.

  doseledger import FILE --unit UNIT --attested-by NAME [--document-ref REF] [--site SITE]
                         [--dry-run] [--map col=field,... | --map mapping.json] [--errors OUT.csv]
  doseledger import --template FILE.xlsx|FILE.csv [--tallies]

Exit status: 0 every row in, 2 some rows refused (see the error report), 1 the import failed.
"""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from intake.retro import (
    Form,
    MappingError,
    TemplateMismatch,
    UnreadableFile,
    parse_mapping,
    run_import,
    write_template,
)
from intake.retro.chunks import ReaderStopped
from intake.retro.importing import CHUNK_ROWS, ImportResult
from intake.retro.importing import Progress as ImportProgress
from ledger.errors import LedgerError
from ledger.values import Actor
from usecases.application import DoseLedger

SHOWN_ERRORS = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", type=Path, help="the CSV or XLSX file to import")
    parser.add_argument(
        "--template", type=Path, metavar="FILE", help="write the blank template (.xlsx or .csv) and stop"
    )
    parser.add_argument(
        "--tallies",
        action="store_true",
        help="with --template: the template of sites' daily tallies (site, day, vaccine, doses)",
    )
    parser.add_argument("--unit", help="the submitting unit (required)")
    parser.add_argument("--attested-by", help="who signed the commitment for the file (required)")
    parser.add_argument("--document-ref", help="the reference of the stamped paper copy")
    parser.add_argument("--site", help="the site of rows that name none")
    parser.add_argument("--dry-run", action="store_true", help="check every row, store nothing")
    parser.add_argument(
        "--map",
        dest="mapping",
        metavar="SPEC",
        help="columns of a file not in the template's shape: col=field,... or a JSON file",
    )
    parser.add_argument(
        "--errors",
        type=Path,
        metavar="OUT.csv",
        help="where to write the error report (default: ./FILE.errors.csv, if any)",
    )
    parser.add_argument("--chunk", type=int, default=CHUNK_ROWS, help="rows per transaction")


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    if args.template:
        write_template(args.template, tallies=args.tallies)
        console.print(f"{'Tally template' if args.tallies else 'Template'} written to {args.template}")
        return 0
    if args.file is None or not args.unit or not args.attested_by:
        console.print("[red]Give the FILE, --unit and --attested-by (or --template FILE).[/red]")
        return 1
    # In the working directory: the file's own folder may be read-only (or someone else's).
    errors_path = args.errors or Path(args.file.name + ".errors.csv")
    try:
        mapping = parse_mapping(args.mapping)
        with (
            errors_path.open("w", encoding="utf-8", newline="") as errors_to,
            DoseLedger() as ledger,
            _bar(console) as bar,
        ):
            task = bar.add_task("import", total=100, rows=0)

            def advance(progress: ImportProgress) -> None:
                fraction = progress.read_fraction
                bar.update(
                    task,
                    completed=100 * fraction if fraction is not None else None,
                    rows=progress.counts.rows,
                )

            result = run_import(
                ledger,
                args.file,
                Form(args.unit, args.attested_by, args.document_ref, args.site),
                actor=Actor(f"cli:{getpass.getuser()}", "admin"),
                dry_run=args.dry_run,
                mapping=mapping,
                chunk_rows=args.chunk,
                on_chunk=advance,
                errors_to=errors_to,
            )
            bar.update(task, completed=100)
    except (LedgerError, MappingError, TemplateMismatch, UnreadableFile, OSError) as e:
        console.print(f"[red]Import refused: {e}[/red]")
        errors_path.unlink(missing_ok=True)
        return 1
    except ReaderStopped as e:
        console.print(
            f"[red]Import stopped: {e}. The rows saved so far stay; run the same "
            "command again to import the rest (nothing is stored twice).[/red]"
        )
        return 1
    except KeyboardInterrupt:
        console.print(
            "[yellow]Interrupted: the rows saved so far stay; run the same command "
            "again to import the rest (nothing is stored twice).[/yellow]"
        )
        return 1
    _print_result(console, result, errors_path)
    if not result.error_count and not result.flag_count:
        errors_path.unlink(missing_ok=True)
    return 2 if result.counts.rejected else 0


def _bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]importing"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _print_result(console: Console, result: ImportResult, errors_path: Path) -> None:
    out = Console()
    what = "daily tallies (a row per site, day and vaccine)" if result.kind == "tallies" else "doses"
    if result.dry_run:
        out.print(f"Dry run of {what}: every row checked, nothing stored.")
    else:
        out.print(f"Import {result.import_id} of {what} {result.status} (file sha256 {result.file_sha256}).")
    table = Table()
    for name in ("rows", "created", "duplicate", "rejected", "of them conflicts"):
        table.add_column(name, justify="right")
    c = result.counts
    table.add_row(f"{c.rows:,}", f"{c.created:,}", f"{c.duplicate:,}", f"{c.rejected:,}", f"{c.conflict:,}")
    out.print(table)
    if result.flag_count:
        out.print(f"{result.flag_count:,} rows booked as sent and flagged to check (listed with the errors).")
    if result.errors:
        errors = Table(
            title=f"Refused rows: first {min(SHOWN_ERRORS, result.error_count)} "
            f"of {result.error_count:,} errors"
        )
        for name in ("row", "column", "value", "reason"):
            errors.add_column(name)
        for e in result.errors[:SHOWN_ERRORS]:
            errors.add_row(str(e["row"]), e["column"], e["value"] or "", e["msg"])
        out.print(errors)
        out.print(f"Every error: {errors_path} (fix those rows and send them again)")
