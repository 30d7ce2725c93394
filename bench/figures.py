"""What a benchmark run measures with: the sizes of a run, a figure's repetitions (median, min,
max, ratio to its baseline) and a store's results."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from bench import http
from bench.sessions import Plan


@dataclass(frozen=True)
class Sizes:
    appends: int  # events per baseline / in-process repetition
    requests: int  # single-dose requests per concurrency level and repetition
    concurrency: tuple[int, ...]
    batches: int  # requests of `batch_size` doses per repetition
    batch_size: int
    reads: int  # certificate reads per repetition
    lag_requests: int  # single-dose requests in the load run the lag is sampled during
    import_rows: int
    import_rows_large: int  # imported once (a run of its own takes minutes)
    import_baseline_rows: int
    workers: tuple[int, ...]  # uvicorn workers for the 32-client run
    repeats: int
    history_runs: int
    people: int  # registered before the HTTP runs, each with a first dose
    growth: tuple[int, ...]  # events stored before the growth runs measure appends again
    growth_repeats: int  # more than the others: a level's batch rates spread by ±15 % over 3
    sealing_scale: float  # of bench.sealing's counts (300 single doses, 2,000 import rows)
    footprint_people: int  # people of bench.footprint's mix, whose bytes on disk are measured
    sessions: Plan  # bench.sessions: kept-alive sites' sessions on one server (PostgreSQL)
    # "all" runs every part; "targets" only the rows the performance targets name (with their
    # baselines), at the full run's counts: the check after a change to the write or read path.
    scope: str = "all"

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            appends=200,
            requests=300,
            concurrency=(1, 8, 32, 64),
            batches=2,
            batch_size=1000,
            reads=300,
            lag_requests=600,
            import_rows=2000,
            import_rows_large=5000,
            import_baseline_rows=1000,
            workers=(1,),
            repeats=1,
            history_runs=5,
            people=2000,
            growth=(30_000,),
            growth_repeats=1,
            sealing_scale=0.25,
            footprint_people=200,
            sessions=Plan.quick(),
        )

    @classmethod
    def full(cls) -> Sizes:
        return cls(
            appends=1000,
            requests=2000,
            concurrency=(1, 8, 32, 64),
            batches=4,
            batch_size=1000,
            reads=3000,
            lag_requests=8000,
            import_rows=100_000,
            import_rows_large=1_000_000,
            import_baseline_rows=10_000,
            workers=(1, 2),
            repeats=3,
            history_runs=30,
            people=http.PEOPLE,
            growth=(1_000_000, 5_000_000),
            growth_repeats=5,
            sealing_scale=1.0,
            footprint_people=5000,
            sessions=Plan.full(),
        )

    @classmethod
    def targets(cls) -> Sizes:
        """The full counts for what the targets name: single doses at 32 clients, batches, the
        projector's lag under load, certificate reads, imports (100,000 rows, then 1,000,000
        once) and the sites' sessions; no rebuilds, growth, sealing, signing, feeds, footprint
        or standby runs."""
        full = cls.full()
        return replace(full, concurrency=(32,), workers=(1,), scope="targets")


@dataclass
class Row:
    key: str
    label: str
    unit: str
    runs: list[float]
    baseline: str | None = None  # the key of the row this figure is a ratio to

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "unit": self.unit,
            "median": self.median,
            "min": min(self.runs),
            "max": max(self.runs),
            "runs": self.runs,
            "baseline": self.baseline,
        }


@dataclass
class Result:
    store: str
    rows: dict[str, Row] = field(default_factory=dict)
    series: dict[str, Any] = field(default_factory=dict)  # for the plots: lag over time, per level

    def add(self, key: str, label: str, unit: str, runs: list[float], baseline: str | None = None) -> None:
        self.rows[key] = Row(key, label, unit, [float(r) for r in runs], baseline)

    def ratio(self, key: str) -> float | None:
        row = self.rows[key]
        if row.baseline is None:
            return None
        return row.median / self.rows[row.baseline].median


def repeat(times: int, measure: Callable[[int], float]) -> list[float]:
    return [measure(run) for run in range(times)]
