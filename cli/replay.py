"""Audit a person's record from the stored events: history, state, diff, explain, verify.

  doseledger replay history PERSON_ID
  doseledger replay state PERSON_ID [--as-of VERSION|TIME|DATE]
  doseledger replay diff PERSON_ID --from A --to B
  doseledger replay explain PERSON_ID
  doseledger replay verify PERSON_ID | --all [--no-views]

Tables by default, `--json` for machines. `verify` exits 1 on any difference; it checks against
the latest signed anchor in DOSELEDGER_ANCHOR_DIR too (`--all` says when there is none).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

import replay
from cli.access import reader
from ledger.errors import LedgerError
from ledger.rules import ICT
from store.anchors import AnchorFolder
from store.url import database_url
from usecases.application import DoseLedger

out = Console()
err = Console(stderr=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    for name, text in (
        ("history", "every event of a person, with the state after it"),
        ("state", "the person as known at a version or recorded time"),
        ("diff", "what changed between two points, and the events that did it"),
        ("explain", "each certificate line and the events that made it"),
        ("verify", "integrity, fold and views against each other; exit 1 on a difference"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("person_id", nargs="?" if name == "verify" else None)
        action.add_argument("--json", action="store_true", help="JSON for machines")
        if name == "state":
            action.add_argument(
                "--as-of", help="a version, an ISO time (Vietnam time without a zone) or a date (its end)"
            )
        if name == "diff":
            action.add_argument("--from", dest="from_", required=True, help="version or time")
            action.add_argument("--to", required=True, help="version or time")
        if name == "verify":
            action.add_argument("--all", action="store_true", help="every stream of the store")
            action.add_argument(
                "--no-views",
                action="store_true",
                help="skip the comparison with the projections' certificate view",
            )


def run(args: argparse.Namespace) -> int:
    if args.action == "verify" and bool(args.all) == bool(args.person_id):
        err.print("verify: give a PERSON_ID or --all")
        return 2
    with DoseLedger() as ledger:
        try:
            status = ACTIONS[args.action](ledger, args)
        except LedgerError as e:
            err.print(f"[red]{e.field}[/]: {e.message}")
            return 2
        if args.person_id:  # shown: logged (verify --all shows counts and differences, no one's record)
            ledger.access_log.record(*reader(), [args.person_id], f"replay.{args.action}")
        return status


def _history(ledger: DoseLedger, args: argparse.Namespace) -> int:
    found = replay.history(ledger, args.person_id)
    if args.json:
        return _print_json(found)
    table = Table(title=f"History of {found['person_id']}")
    for column in ("pos", "ver", "recorded (ICT)", "event", "by", "through", "what changed", "after"):
        table.add_column(column, justify="right" if column in ("pos", "ver") else "left")
    for e in found["events"]:
        state = e["state"] or {}
        valid = sum(1 for d in state.get("doses", []) if not d["voided"])
        change = e.get("problem") and f"[red]{e['problem']}[/]" or _changes(e["changes"], e["data"])
        table.add_row(
            str(e["position"]),
            str(e["version"]),
            _when(e["recorded_at"]),
            e["type"],
            _actor(e["actor"]),
            _source(e["source"]),
            change,
            f"{state.get('status', '-')}, {valid} dose(s)",
        )
    out.print(table)
    return 0


def _state(ledger: DoseLedger, args: argparse.Namespace) -> int:
    point = replay.parse_as_of(args.as_of) if args.as_of else replay.AsOf()
    found = replay.state_as_of(ledger, args.person_id, version=point.version, recorded_at=point.recorded_at)
    if args.json:
        return _print_json(found)
    at = found["as_of"]
    state = found["state"]
    if state is None:
        out.print(f"Nothing was recorded about {found['person_id']} by then.")
        return 0
    out.print(
        f"[bold]{state['details']['full_name']}[/] as of version {at['version']} "
        f"(recorded {_when(at['recorded_at'])}): [bold]{state['status']}[/]"
        + (f", merged into {state['merged_into']}" if state["merged_into"] else "")
    )
    out.print(_doses_table(state["doses"], "Doses"))
    for flag in state["flags"]:
        out.print(
            f"[yellow]flag[/] {flag['kind']}: "
            + ", ".join(f"{k}={v}" for k, v in flag.items() if k != "kind")
        )
    return 0


def _diff(ledger: DoseLedger, args: argparse.Namespace) -> int:
    found = replay.diff(ledger, args.person_id, args.from_, args.to)
    if args.json:
        return _print_json(found)
    a, b = found["from"], found["to"]
    out.print(
        f"From version {a['version']} ({_when(a['recorded_at'])}) to version {b['version']} "
        f"({_when(b['recorded_at'])}):"
    )
    out.print("  " + (_changes(found["changes"], None) or "nothing changed"))
    table = Table(title="Events between")
    for column in ("ver", "recorded (ICT)", "event", "by", "through"):
        table.add_column(column)
    for e in found["events"]:
        table.add_row(
            str(e["version"]), _when(e["recorded_at"]), e["type"], _actor(e["actor"]), _source(e["source"])
        )
    out.print(table)
    return 0


def _explain(ledger: DoseLedger, args: argparse.Namespace) -> int:
    found = replay.explain_certificate(ledger, args.person_id)
    if args.json:
        return _print_json(found)
    if found["merged_into"]:
        out.print(f"Merged into {found['merged_into']}: its doses are on that person's certificate.")
        return 0
    out.print(
        f"Certificate of {found['person_id']} at version {found['version']}: [bold]{found['status']}[/]"
    )
    for title, lines in (("Lines", found["lines"]), ("Removed (voided)", found["removed"])):
        table = Table(title=title)
        for column in ("no.", "administered", "vaccine", "lot", "site", "made by"):
            table.add_column(column)
        for line in lines:
            trail = "\n".join(
                f"{e['role']} v{e['version']} by {_actor(e['actor'])} via {_source(e['source'])}"
                + (f" in {e['person_id'][:8]}" if e["person_id"] != found["person_id"] else "")
                + (f" (from {e['from_person_id'][:8]})" if e.get("from_person_id") else "")
                + (f": {e['reason']}" if e.get("reason") else "")
                for e in line["events"]
            )
            table.add_row(
                str(line["dose_number"] or "-"),
                line["administered_at"],
                line["vaccine"],
                line["lot"] or "",
                line["site_id"],
                trail,
            )
        if lines:
            out.print(table)
    return 0


def _verify(ledger: DoseLedger, args: argparse.Namespace) -> int:
    views = None if args.no_views else _open_views()
    try:
        if args.all:
            found = _verify_all(ledger, views, AnchorFolder.from_env())
        else:
            found = replay.verify(ledger, args.person_id, views, AnchorFolder.from_env())
    finally:
        if views is not None and hasattr(views, "close"):
            views.close()
    if args.json:
        _print_json(found)
    else:
        _print_verification(found, args.all)
    return 0 if found["consistent"] else 1


def _verify_all(ledger: DoseLedger, views: Any, anchors: AnchorFolder) -> dict[str, Any]:
    columns = (
        TextColumn("verifying"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("verify", total=None)
        return replay.verify_all(
            ledger,
            views,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            anchors=anchors,
        )


def _print_verification(found: dict[str, Any], whole_store: bool) -> None:
    if whole_store:
        table = Table(title="verify --all", show_header=False)
        elapsed = found["elapsed_s"] or 1e-9
        for name, value in (
            ("streams", f"{found['streams']:,}"),
            *((f"  {k}", f"{v:,}") for k, v in found["by_type"].items()),
            ("events", f"{found['events']:,}"),
            ("people", f"{found['people']:,}"),
            ("checked", ", ".join(found["checked"])),
            ("anchor", _anchor_line(found["anchor"])),
            ("differences", f"{len(found['differences']):,}"),
            (
                "time",
                f"{elapsed:.2f} s ({found['streams'] / elapsed:,.0f} streams/s, "
                f"{found['events'] / elapsed:,.0f} events/s)",
            ),
        ):
            table.add_row(name, value)
        out.print(table)
    verdict = (
        "[green]consistent[/]"
        if found["consistent"]
        else f"[red]{len(found['differences'])} difference(s)[/]"
    )
    out.print(f"{verdict} (checked: {', '.join(found['checked'])})")
    for note in found.get("notes", []):
        out.print(f"[yellow]note[/]: {note}")
    if found["differences"]:
        table = Table()
        for column in ("stream", "kind", "version", "field", "detail"):
            table.add_column(column)
        for d in found["differences"][:200]:
            table.add_row(
                d.get("stream_id", found.get("person_id", ""))[:8],
                d["kind"] + (f"/{d['finding']}" if d.get("finding") else ""),
                str(d.get("version") or ""),
                str(d.get("field") or d.get("dose_id") or ""),
                d["detail"],
            )
        out.print(table)


def _anchor_line(anchor: dict[str, Any] | None) -> str:
    if anchor is None:
        return "none"
    return f"{anchor['name']} (position {anchor['position']:,}, {anchor['streams']:,} streams)"


def _open_views() -> Any:
    """The projections' views, when that package is installed; the comparison is skipped otherwise."""
    try:
        from projections import open_views
    except ImportError:
        err.print("[yellow]projections are not installed: the certificate view is not compared[/]")
        return None
    return open_views(database_url())


def _doses_table(doses: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    for column in ("no.", "administered", "vaccine", "lot", "site", "reported no.", ""):
        table.add_column(column)
    for d in doses:
        table.add_row(
            str(d["dose_number"] or "-"),
            d["administered_at"],
            d["vaccine"],
            d["lot"] or "",
            d["site_id"],
            str(d["reported_dose_number"] or ""),
            "[red]voided[/]" if d["voided"] else ("booster" if d["booster"] else ""),
        )
    return table


def _changes(changes: dict[str, Any], data: dict[str, Any] | None) -> str:
    """One line: what an event (or a span of events) changed."""
    details = changes["details"]
    if details and all(v["from"] is None for v in details.values()):
        parts = ["registered"]
    else:
        parts = [f"{k}: {v['from']} → {v['to']}" for k, v in details.items()]
    for d in changes["doses"]["added"]:
        parts.append(f"+ dose {d['administered_at']} {d['vaccine']}" + (" (voided)" if d["voided"] else ""))
    for d in changes["doses"]["removed"]:
        parts.append(f"- dose {d['administered_at']} {d['vaccine']}")
    for c in changes["doses"]["changed"]:
        fields = c["fields"]
        if fields.get("voided", {}).get("to"):
            parts.append(f"voided {c['dose_id'][:8]}")
            continue
        parts.append(
            f"{c['dose_id'][:8]} " + ", ".join(f"{k} {v['from']}→{v['to']}" for k, v in fields.items())
        )
    if changes["status"] and changes["status"]["from"] is not None:
        parts.append(f"status {changes['status']['from']} → {changes['status']['to']}")
    for c in changes["corrections"]:
        status = c["fields"].get("status")
        if status and status["from"] is None:
            parts.append(f"request {c['request_id'][:8]} filed: {c['fields']['kind']['to']}")
        elif status:
            parts.append(f"request {c['request_id'][:8]} {status['from']} → {status['to']}")
        elif "repeats" in c["fields"]:
            parts.append(f"request {c['request_id'][:8]} filed again")
    if changes["merged_into"]:
        parts.append(f"merged into {changes['merged_into']['to']}")
    if data and data.get("reason"):
        parts.append(f"reason: {data['reason']}")
    return "; ".join(parts)


def _when(recorded_at: str | None) -> str:
    if recorded_at is None:
        return "-"
    return datetime.fromisoformat(recorded_at).astimezone(ICT).strftime("%Y-%m-%d %H:%M:%S")


def _actor(actor: dict[str, Any] | None) -> str:
    return f"{actor['principal_id']} ({actor['role']})" if actor else "-"


def _source(source: dict[str, Any] | None) -> str:
    if not source:
        return "-"
    if source.get("kind") == "site" and "site_record_id" in source:
        return f"site {source['site_id']} record {source['site_record_id']}"
    if source.get("kind") == "correction_request":
        request = source.get("request_id")
        return (
            f"correction request {request[:8]}"
            if request
            else f"correction request ({source.get('channel')})"
        )
    if source.get("kind") == "retro_import":
        return f"import {source.get('import_id')} row {source.get('row')}"
    return str(source.get("kind"))


def _print_json(value: Any) -> int:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")
    return 0


ACTIONS = {"history": _history, "state": _state, "diff": _diff, "explain": _explain, "verify": _verify}
