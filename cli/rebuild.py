"""Rebuild a projection's view from the whole ledger (NAME, or --all): folded person by person
beside the view, which the fold replaces once whole (the correction requests: dropped and replayed).

A projector running that projection holds it: stop it first (rebuild waits --wait seconds).
"""

from __future__ import annotations

import argparse
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from projections.views import PROJECTIONS

    parser.add_argument("name", nargs="?", choices=list(PROJECTIONS), help="the projection to rebuild")
    parser.add_argument("--all", action="store_true", help="rebuild every projection")
    parser.add_argument(
        "--wait",
        type=float,
        default=10.0,
        help="seconds to wait for a running projector to let go (default 10)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


class Bar:
    """The rebuild's progress as rich draws it: a line per step, a bar of positions read for a
    replay page by page (a fold person by person does not know its length ahead: a spinner)."""

    def __init__(self, shown: bool):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            disable=not shown,
        )
        self._tasks: list[Any] = []

    def began(self, what: str, total: int | None) -> int:
        self._tasks.append(self.bar.add_task(what, total=total))
        return len(self._tasks) - 1

    def advanced(self, step: int, done: int, total: int) -> None:
        self.bar.update(self._tasks[step], completed=done, total=total)

    def __enter__(self) -> Bar:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()


def run(args: argparse.Namespace) -> int:
    from projections.running import ProjectorRunning, rebuild

    if bool(args.name) == bool(args.all):
        print("doseledger rebuild: name one projection, or give --all")
        return 2
    try:
        with Bar(shown=not args.quiet) as bar:
            done = rebuild(name="all" if args.all else args.name, progress=bar, wait=args.wait)
    except ProjectorRunning as e:
        print(f"doseledger rebuild: {e}")
        return 1
    for r in done:
        print(
            f"{r.name}: rebuilt to position {r.position} in {r.seconds:.1f}s "
            f"({r.events_per_second:,.0f} events/s)"
        )
    return 0
