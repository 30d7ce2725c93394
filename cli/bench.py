"""Measure the ledger beside eventsourcing's own baseline: appends, HTTP, import, projections.

  doseledger bench [--store sqlite|postgresql|both] [--quick | --targets] [--out DIR]

One run per store on one database (see bench/suite.py for what runs and in which order): medians
of the repetitions with min and max, and each throughput as a ratio to the baseline measured in
the same run — a trivial aggregate, one save() per event (for single appends) or 100 events per
save() (for batches and imports). The ratios are the figures to quote: absolute rates drift on a
shared machine. Needs the bench extra, which `./run bench` installs (from requirements/dev.txt).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small counts, one repetition: a check that everything runs (minutes)",
    )
    parser.add_argument(
        "--targets",
        action="store_true",
        help="only the rows the performance targets name, at the full counts, with their baselines",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("var/bench"),
        help="folder for bench.md, bench.json and the plots (default var/bench)",
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from bench.suite import Sizes, environment, run_store

    console = Console()
    if args.quick and args.targets:
        raise SystemExit("bench: --quick and --targets are two different runs; give one")
    sizes = Sizes.quick() if args.quick else Sizes.targets() if args.targets else Sizes.full()
    stores = ["sqlite", "postgresql"] if args.store == "both" else [args.store]
    started = time.perf_counter()
    about = environment()
    results = [run_store(kind, sizes, say=lambda line: console.print(line, style="dim")) for kind in stores]
    about["seconds"] = time.perf_counter() - started
    about["load_average_after"] = __import__("os").getloadavg()
    about["sizes"] = sizes.__dict__
    about["quick"] = args.quick
    console.print(rich_table(results, about))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.md").write_text(markdown(results, about), encoding="utf-8")
    (args.out / "bench.json").write_text(
        json.dumps(
            {
                "about": about,
                "stores": {
                    r.store: {
                        "rows": {k: row.as_dict() for k, row in r.rows.items()},
                        "ratios": {k: r.ratio(k) for k in r.rows},
                        "series": r.series,
                    }
                    for r in results
                },
            },
            indent=1,
            default=str,
        ),
        encoding="utf-8",
    )
    from bench.plots import plot

    for path in plot(results, args.out):
        console.print(f"wrote {path}")
    console.print(
        f"wrote {args.out / 'bench.md'} and {args.out / 'bench.json'} ({about['seconds']:.0f} s in all)"
    )
    return 0


def cells(results: list[Any], key: str) -> list[str]:
    out = []
    for r in results:
        row = r.rows.get(key)
        if row is None:
            out += ["", "", ""]
            continue
        ratio = r.ratio(key)
        out += [
            figure(row.median),
            f"{figure(min(row.runs))}–{figure(max(row.runs))}",
            "" if ratio is None else f"{ratio:.2f}×",
        ]
    return out


def figure(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"


def keys(results: list[Any]) -> list[str]:
    return list(dict.fromkeys(k for r in results for k in r.rows))


def label(results: list[Any], key: str) -> tuple[str, str]:
    row = next(r.rows[key] for r in results if key in r.rows)
    return row.label, row.unit


def heading(about: dict[str, Any]) -> str:
    sizes = about["sizes"]
    return (
        f"{'quick' if about['quick'] else sizes.get('scope', 'all').replace('all', 'full')} run: median of {sizes['repeats']} (min–max; "
        f"growth runs: of {sizes['growth_repeats']}), "
        f"{about['cores']} cores, load average {about['load_average'][0]:.2f} before, "
        f"{about['load_average_after'][0]:.2f} after; {about['seconds']:.0f} s"
    )


def rich_table(results: list[Any], about: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(title=heading(about))
    table.add_column("measure")
    table.add_column("unit")
    for r in results:
        table.add_column(f"{r.store}", justify="right")
        table.add_column("min–max", justify="right", style="dim")
        table.add_column("× baseline", justify="right")
    for key in keys(results):
        table.add_row(*label(results, key), *cells(results, key))
    return table


def markdown(results: list[Any], about: dict[str, Any]) -> str:
    head = ["measure", "unit"] + [c for r in results for c in (r.store, "min–max", "× baseline")]
    lines = [
        f"_{heading(about)}_",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * 2 + "---:|" * (len(head) - 2),
    ]
    for key in keys(results):
        name, unit = label(results, key)
        lines.append(
            "| "
            + " | ".join(
                [name.replace("  ", "↳ ", 1) if name.startswith("  ") else name, unit] + cells(results, key)
            )
            + " |"
        )
    return "\n".join(lines) + "\n"
