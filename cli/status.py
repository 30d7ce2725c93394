"""Show each projection's position and lag, and the read standby's lag (plain text or --json).

  doseledger status [--json]

The projections as the API reads them: with DOSELEDGER_READ_DATABASE_URL, their positions on
the standby (what readers see) against the primary's head, and how far the standby's replay is
behind; the primary's standbys as it sees them (pg_stat_replication).
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="JSON for machines")


def run(args: argparse.Namespace) -> int:
    from config.settings import Settings
    from projections import open_views

    settings = Settings()
    with open_views(settings.database_url, read_url=settings.read_database_url) as views:
        found = {"projections": views.status(), "replica": views.replica_status()}
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        print(plain(found))
    return 0


def plain(found: dict[str, Any]) -> str:
    lines = [f"{'projection':<14}{'state':<10}{'position':>10}{'head':>10}{'lag events':>12}{'lag s':>9}"]
    for p in found["projections"]:
        lines.append(
            f"{p['name']:<14}{p['state']:<10}{p['position']:>10}{p['head']:>10}"
            f"{p['lag_events']:>12}{p['lag_seconds']:>9.2f}" + (f"  {p['error']}" if p["error"] else "")
        )
    replica = found["replica"]
    if replica is None:
        lines.append("replica: none (the projections are read from the store itself)")
        return "\n".join(lines)
    lines.append(
        f"replica: {replica['state']}, {_number(replica['bytes_behind'])} bytes behind the primary, "
        f"{_number(replica['unreplayed_bytes'])} received and not replayed, replay "
        f"{_seconds(replica['replay_age_seconds'])} behind"
        + (f" ({replica['error']})" if replica["error"] else "")
    )
    conflicts = replica.get("conflicts")
    if conflicts is not None:
        lines.append(
            "  reads cancelled by the replay (recovery conflicts): "
            + ", ".join(f"{kind} {count:,}" for kind, count in conflicts.items())
            + f"; run again by this process: {replica.get('retried_reads', 0):,}"
        )
    for s in replica["standbys"]:
        lines.append(
            f"  standby {s['name']}: {s['state']}, {s['sync_state']}, {_number(s['bytes_behind'])} bytes "
            f"behind, replay lag {_seconds(s['replay_lag_seconds'])}"
        )
    return "\n".join(lines)


def _number(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _seconds(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f} s"
