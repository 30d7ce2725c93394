"""Work citizens' correction requests: list, summary, show, assign, resolve.

  doseledger corrections list [--status unresolved] [--province 01 ...] [--overdue] [--limit 100]
  doseledger corrections summary [--province 01 ...]
  doseledger corrections show REQUEST_ID
  doseledger corrections assign REQUEST_ID (--province CODE | --site ID)
  doseledger corrections resolve REQUEST_ID (--accept | --reject) --reason TEXT

`list` and `summary` read the corrections view (a projector must be running: serve or project);
`show` reads the ledger itself. Overdue: unresolved for longer than
$DOSELEDGER_CORRECTION_OVERDUE_DAYS (default 7) days.
"""

from __future__ import annotations

import argparse
import getpass
import json
from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from uuid import UUID

from rich.console import Console
from rich.table import Table

from cli.access import reader
from ledger.errors import InvalidValue, LedgerError
from ledger.person import ACCEPTED, REJECTED
from ledger.rules import ICT
from ledger.values import Actor
from usecases.application import DoseLedger

out = Console()
err = Console(stderr=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="requests, oldest first (from the corrections view)")
    listing.add_argument(
        "--status",
        action="append",
        default=[],
        help="open, assigned, accepted, rejected, unresolved or resolved (repeat)",
    )
    listing.add_argument("--overdue", action="store_true", help="only the overdue ones")
    listing.add_argument("--limit", type=int, default=100)
    summary = actions.add_parser("summary", help="open per province and site, outcomes, time to answer")
    for action in (listing, summary):
        action.add_argument("--province", action="append", default=[], metavar="CODE")
        action.add_argument("--json", action="store_true", help="JSON for machines")
        action.add_argument(
            "--wait",
            type=float,
            default=5.0,
            help="seconds to wait for the view to catch up with the ledger (default 5)",
        )
    show = actions.add_parser("show", help="one request and its history, from the ledger")
    assign = actions.add_parser("assign", help="give a request to a province or a site")
    resolve = actions.add_parser("resolve", help="accept (the correction is made) or reject, with a reason")
    for action in (show, assign, resolve):
        action.add_argument("request_id")
    to = assign.add_mutually_exclusive_group(required=True)
    to.add_argument("--province", metavar="CODE")
    to.add_argument("--site", metavar="ID")
    outcome = resolve.add_mutually_exclusive_group(required=True)
    outcome.add_argument("--accept", dest="outcome", action="store_const", const=ACCEPTED)
    outcome.add_argument("--reject", dest="outcome", action="store_const", const=REJECTED)
    resolve.add_argument("--reason", required=True, help="told to the citizen with the outcome")


def run(args: argparse.Namespace) -> int:
    actor = Actor(f"cli:{getpass.getuser()}", "admin")
    try:
        if args.action in ("list", "summary"):
            return _read_view(args)
        with DoseLedger() as ledger:
            if args.action == "show":
                _show(ledger, args.request_id)
            elif args.action == "assign":
                assignee = {"province": args.province} if args.province else {"site": args.site}
                written = ledger.assign_correction(args.request_id, assignee, actor=actor)
                out.print(
                    f"request {args.request_id} assigned to {_assignee(assignee)} "
                    f"(position {written.position})"
                )
            else:
                written = ledger.resolve_correction(args.request_id, args.outcome, args.reason, actor=actor)
                out.print(f"request {args.request_id} {args.outcome} (position {written.position})")
    except LedgerError as error:
        err.print(f"doseledger corrections: {error.field}: {error.message}")
        return 2
    return 0


def _read_view(args: argparse.Namespace) -> int:
    from config.settings import Settings
    from ledger import rules
    from projections import open_views

    overdue_after = timedelta(days=Settings().correction_overdue_days)
    provinces = sorted({rules.province(p) for p in args.province}) or None
    with open_views() as views:
        head = views.ledger.head()
        if not views.wait(head, args.wait):
            position = next(s["position"] for s in views.status() if s["name"] == "corrections")
            err.print(
                f"the corrections view is at position {position} of {head}: is a projector "
                "running (doseledger serve, or doseledger project)?"
            )
        if args.action == "summary":
            found: Any = views.corrections.summary(provinces, overdue_after=overdue_after)
        else:
            found = views.corrections.requests(
                args.status or None,
                provinces,
                overdue=True if args.overdue else None,
                overdue_after=overdue_after,
                limit=args.limit,
            )
            # Claims and contacts are people's data (in --json): the read is logged.
            views.ledger.access_log.record(*reader(), [r["person_id"] for r in found], "corrections.list")
    if args.json:
        print(json.dumps(found, ensure_ascii=False, indent=2))
    elif args.action == "summary":
        _print_summary(found, overdue_after)
    else:
        _print_requests(found, overdue_after)
    return 0


def _assignee(assignee: dict[str, str] | None) -> str:
    if not assignee:
        return "-"
    return f"province {assignee['province']}" if "province" in assignee else f"site {assignee['site']}"


def _print_requests(rows: list[dict[str, Any]], overdue_after: timedelta) -> None:
    table = Table(title=f"correction requests ({len(rows)}; overdue after {overdue_after.days} days)")
    for column in (
        "request",
        "province",
        "site",
        "kind",
        "status",
        "assigned to",
        "filed",
        "age (days)",
        "repeats",
    ):
        table.add_column(column, justify="right" if column in ("age (days)", "repeats") else "left")
    for r in rows:
        age = f"[bold red]{r['age_days']:.1f} overdue[/]" if r["overdue"] else f"{r['age_days']:.1f}"
        table.add_row(
            r["request_id"],
            r["province"],
            r["site_id"] or "-",
            r["kind"],
            r["status"],
            _assignee(r["assignee"]),
            r["filed_at"][:16],
            age,
            str(r["repeats"]),
        )
    out.print(table)


def _print_summary(summary: dict[str, Any], overdue_after: timedelta) -> None:
    table = Table(title=f"open correction requests (overdue after {overdue_after.days} days)")
    for column in ("province", "site", "open", "overdue", "oldest (days)"):
        table.add_column(column, justify="left" if column in ("province", "site") else "right")
    for g in summary["open"]:
        table.add_row(
            g["province"],
            g["site_id"] or "-",
            str(g["open"]),
            str(g["overdue"]),
            f"{g['oldest_age_days']:.1f}",
        )
    out.print(table)
    times = summary["resolution_days"]
    out.print(
        f"resolved: {summary['resolved'][ACCEPTED]} accepted, {summary['resolved'][REJECTED]} rejected; "
        f"days to resolution: median {_days(times['median'])}, p90 {_days(times['p90'])} "
        f"({times['count']} resolved)"
    )


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _show(ledger: DoseLedger, request_id: str) -> None:
    request = ledger.correction(request_id)
    ledger.access_log.record(*reader(), [request["person_id"]], "corrections.show")
    out.print(
        f"request {request['request_id']}  {request['kind']}  [bold]{request['status']}[/]  "
        f"person {request['person_id']} (province {request['province']})"
    )
    out.print(
        f"filed {request['filed_at']} via {request['channel']}; assigned to "
        f"{_assignee(request['assignee'])}; filed again {request['repeats']} times"
    )
    out.print(f"claim: {json.dumps(request['claim'], ensure_ascii=False)}")
    if request["outcome"]:
        out.print(f"outcome: {request['outcome']}: {request['reason']}")
    table = Table(title="history (from the ledger)")
    for column in ("recorded", "event", "by", "details"):
        table.add_column(column)
    for event in _history(ledger, UUID(request["person_id"]), request["request_id"]):
        table.add_row(*event)
    out.print(table)


# What each event of a request tells, beyond its name (the code's digest is nobody's business).
_SHOWN = (
    "evidence_ref",
    "contact",
    "channel",
    "assignee",
    "outcome",
    "reason",
    "vaccine",
    "administered_at",
    "site_id",
    "changes",
)


def _history(ledger: DoseLedger, person_id: UUID, request_id: str) -> list[tuple[str, ...]]:
    """The events of the person's stream that belong to the request: its own, and those it caused."""
    rows: list[tuple[str, ...]] = []
    # Any: the protocol the store answers with knows neither the timestamp nor the actor that
    # every event of a person carries.
    events: Iterable[Any] = ledger.events.get(person_id)
    for event in events:
        source = getattr(event, "source", None) or {}
        if str(getattr(event, "request_id", "")) != request_id and source.get("request_id") != request_id:
            continue
        details = {k: getattr(event, k) for k in _SHOWN if getattr(event, k, None) is not None}
        rows.append(
            (
                event.timestamp.astimezone(ICT).isoformat(timespec="seconds"),
                type(event).__name__,
                f"{event.actor['principal_id']} ({event.actor['role']})",
                json.dumps(details, ensure_ascii=False, default=str),
            )
        )
    if not rows:
        raise InvalidValue("request_id", f"no events of request {request_id} in person {person_id}'s stream")
    return rows
