"""Run the projections as a worker until SIGTERM (PostgreSQL: LISTEN/NOTIFY; SQLite: polling).

A second worker started by mistake waits for the first: each projection is run by one process.
The worker also writes a signed anchor of the store every DOSELEDGER_ANCHOR_INTERVAL_SECONDS
(cli.anchor): the process that runs the projections does (this one, or `doseledger serve` when
they are embedded in it), never a uvicorn worker, of which there are several; one runs per
deployment, all the time, off the requests' path.
"""

from __future__ import annotations

import argparse
import logging
import sys

from cli.anchor import start_anchoring
from config.settings import Settings
from store.replica import StandbyRefused, refuse_standby


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help="projections to run (default: all of them)")


def run(args: argparse.Namespace) -> int:
    from cli.certificates import signing_from_env
    from projections.running import run_worker
    from projections.views import projection_names

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    names = [n for name in args.names for n in projection_names(name)] or None
    settings = Settings()
    try:
        refuse_standby(settings.database_url, "doseledger project")
    except StandbyRefused as error:
        print(f"doseledger: {error}", file=sys.stderr)
        return 2
    anchoring = start_anchoring(settings)
    try:
        return run_worker(names=names, sign=signing_from_env(settings))
    finally:
        if anchoring is not None:
            stopping, thread = anchoring
            stopping.set()
            thread.join(timeout=10)
