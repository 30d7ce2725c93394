"""Run the projections as a worker until SIGTERM (PostgreSQL: LISTEN/NOTIFY; SQLite: polling).

A second worker started by mistake waits for the first: each projection is run by one process.
"""

from __future__ import annotations

import argparse
import logging


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help="projections to run (default: all of them)")


def run(args: argparse.Namespace) -> int:
    from projections.running import run_worker
    from projections.views import projection_names

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    names = [n for name in args.names for n in projection_names(name)] or None
    return run_worker(names=names)
