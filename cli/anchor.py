"""Write a signed anchor of the store: every stream's head, to the anchor folder.

  doseledger anchor [--json]

The folder is DOSELEDGER_ANCHOR_DIR (default `doseledger/anchors` in the user's config folder),
outside the database; `doseledger replay verify --all` checks the store against the latest one.
The process running the projections (`doseledger project`, or `doseledger serve` with them
embedded) writes one every DOSELEDGER_ANCHOR_INTERVAL_SECONDS as well.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading

from rich.console import Console

from config.settings import Settings
from replay.anchoring import anchor_summary, take_anchor
from store.anchors import AnchorError, AnchorFolder
from store.secrets import MissingSecret, Secrets
from usecases.application import DoseLedger

log = logging.getLogger(__name__)
err = Console(stderr=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="JSON for machines")


def run(args: argparse.Namespace) -> int:
    folder = AnchorFolder.from_env()
    try:
        with DoseLedger() as ledger:
            anchor = take_anchor(ledger, folder, Secrets.from_env())
    except (AnchorError, MissingSecret) as e:
        err.print(f"[red]anchor[/]: {e}")
        return 2
    summary = {**anchor_summary(anchor), "directory": str(folder.directory)}
    if args.json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        Console().print(
            f"anchored {summary['streams']:,} stream(s) at position {summary['position']:,}: "
            f"{folder.directory / anchor.name}"
        )
    return 0


def anchor_every(interval: float, stopping: threading.Event) -> None:
    """Write an anchor every `interval` seconds until `stopping` is set. A failed anchor (the
    store down, a secret missing) is logged and tried again at the next interval, with a ledger
    opened afresh: the projections it runs beside go on."""
    folder, secrets = AnchorFolder.from_env(), Secrets.from_env()
    while not stopping.wait(interval):
        try:
            with DoseLedger() as ledger:
                anchor = take_anchor(ledger, folder, secrets)
        except Exception:  # logged with its traceback (BLE allows it): the next interval tries again
            log.exception("the anchor could not be written")
            continue
        log.info("anchored %d stream(s) at position %d: %s", len(anchor.heads), anchor.position, anchor.name)


def start_anchoring(settings: Settings) -> tuple[threading.Event, threading.Thread] | None:
    """The interval anchor in a thread of this process (None when the interval is 0)."""
    if not settings.anchor_interval_seconds:
        return None
    stopping = threading.Event()
    thread = threading.Thread(
        target=anchor_every, args=(settings.anchor_interval_seconds, stopping), name="anchor", daemon=True
    )
    thread.start()
    return stopping, thread
