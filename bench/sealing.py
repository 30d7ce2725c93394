"""What sealing personal fields costs: the same writes with sealing on and off, in one run.

`python -m bench.sealing [sqlite|postgresql ...]` prints, per store, the rates sealed and
unsealed and their ratio (the figure to quote: absolute rates drift on a shared machine):

- single doses, each with an inline registration (a new person, sealed, with a new data key);
- single doses for people already registered (nothing of a dose is personal);
- an import's batches (`record_doses` with identity matching, every row a new person);
- every view rebuilt from those people's events (each registration opened with its key).

The baseline turns sealing off with DOSELEDGER_BENCH_UNSEALED=1, read by the store's mapper
when a ledger is made; nothing but this benchmark sets it. Each measure gets a fresh store,
sealed and unsealed runs alternate, and the median of `repeats` is kept.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.imports import drop_store, fresh_store
from ledger.values import Actor
from projections.running import rebuild
from usecases.application import DoseLedger

SWITCH = "DOSELEDGER_BENCH_UNSEALED"
ACTOR = Actor("bench", "site")


def person(k: int) -> dict[str, Any]:
    return {
        "full_name": f"Nguyễn Văn Người {k}",
        "birth_date": "1980-01-01",
        "national_id": f"{k:012d}",
        "phone": f"09{k % 100_000_000:08d}",
        "address": f"{k} Phố Huế",
        "province": "01",
    }


@contextmanager
def ledger_on(url: str, sealed: bool) -> Iterator[DoseLedger]:
    if sealed:
        os.environ.pop(SWITCH, None)
    else:
        os.environ[SWITCH] = "1"
    try:
        ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": url})
    finally:
        os.environ.pop(SWITCH, None)
    try:
        yield ledger
    finally:
        ledger.close()


def singles(ledger: DoseLedger, n: int, prefix: str, subject: Callable[[int], dict[str, Any]]) -> float:
    """Single doses, each in its own transaction: doses/s."""
    started = time.perf_counter()
    for i in range(n):
        ledger.record_dose(
            site_id="BENCH-1",
            site_record_id=f"{prefix}{i}",
            vaccine="EU/1/20/1528",
            administered_at="2021-08-01",
            actor=ACTOR,
            **subject(i),
        )
    return n / (time.perf_counter() - started)


def inline_singles(ledger: DoseLedger, n: int) -> float:
    return singles(ledger, n, "S", lambda i: {"person": person(i)})


def registered_singles(ledger: DoseLedger, n: int) -> float:
    people = [ledger.register_person(person(k)).person_id for k in range(20)]
    return singles(ledger, n, "R", lambda i: {"person_id": people[i % 20]})


def import_rows(first: int, last: int, prefix: str, administered_at: str) -> list[dict[str, Any]]:
    """An import's rows, every one a new person matched by identity (no national id)."""
    return [
        {
            "site_id": "BENCH-1",
            "site_record_id": f"{prefix}{i}",
            "vaccine": "EU/1/20/1528",
            "administered_at": administered_at,
            "person": {**person(i), "national_id": None},
        }
        for i in range(first, last)
    ]


def import_batches(ledger: DoseLedger, n: int, batch: int = 500) -> float:
    started = time.perf_counter()
    for first in range(0, n, batch):
        rows = import_rows(first, min(n, first + batch), "I", "2021-08-01")
        ledger.record_doses(rows, actor=ACTOR, match_identity=True)
    return n / (time.perf_counter() - started)


def rebuilt_views(ledger: DoseLedger, n: int) -> float:
    """Every view rebuilt from `n` people (a registration, a correction, 2 doses each): events/s.
    Sealed, each registration and correction is opened with its person's key."""
    import_batches(ledger, n)
    for first in range(0, n, 500):
        rows = import_rows(first, min(n, first + 500), "II", "2021-10-01")
        ledger.record_doses(rows, actor=ACTOR, match_identity=True)
    events = ledger.recorder.count_notifications()
    started = time.perf_counter()
    rebuild(ledger.env["DOSELEDGER_DATABASE_URL"], "all", progress=False)
    return events / (time.perf_counter() - started)


MEASURES: dict[str, tuple[Callable[[DoseLedger, int], float], int]] = {
    "single dose, inline registration": (inline_singles, 300),
    "single dose, registered person": (registered_singles, 300),
    "import batches (new people)": (import_batches, 2000),
    "every view rebuilt (events)": (rebuilt_views, 2000),
}


def runs(
    kind: str, measures: dict[str, tuple[Callable[[DoseLedger, int], float], int]], repeats: int
) -> dict[str, dict[bool, list[float]]]:
    """Each measure's rates, sealed (True) and unsealed (False), `repeats` of each, alternated."""
    found: dict[str, dict[bool, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (run, n) in measures.items():
            rates: dict[bool, list[float]] = {True: [], False: []}
            for r in range(repeats):
                for sealed in (r % 2 == 0, r % 2 != 0):  # alternate which goes first
                    url = fresh_store(kind, Path(tmp))
                    try:
                        with ledger_on(url, sealed) as ledger:
                            rates[sealed].append(run(ledger, n))
                    finally:
                        drop_store(url)
            found[name] = rates
    return found


def measure(kind: str, repeats: int = 5) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {}
    for name, rates in runs(kind, MEASURES, repeats).items():
        on, off = statistics.median(rates[True]), statistics.median(rates[False])
        figures[name] = {"sealed_per_s": on, "unsealed_per_s": off, "ratio": on / off}
    return figures


def into(result: Any, kind: str, repeats: int, scale: float = 1.0) -> None:
    """The single-dose and import paths, sealed beside unsealed, as rows of `doseledger bench`
    (the sealed row's baseline is the unsealed one: its ratio is what sealing leaves)."""
    chosen: dict[str, tuple[Callable[[DoseLedger, int], float], int]] = {
        "inline": (inline_singles, max(50, int(300 * scale))),
        "import": (import_batches, max(500, int(2000 * scale))),
    }
    labels = {"inline": "single dose with an inline registration", "import": "import batches of new people"}
    unit = {"inline": "doses/s", "import": "rows/s"}
    for name, rates in runs(kind, chosen, repeats).items():
        result.add(f"unsealed_{name}", f"{labels[name]}, personal fields unsealed", unit[name], rates[False])
        result.add(
            f"sealed_{name}",
            f"{labels[name]}, personal fields sealed",
            unit[name],
            rates[True],
            f"unsealed_{name}",
        )


if __name__ == "__main__":
    for kind in sys.argv[1:] or ["sqlite", "postgresql"]:
        for name, f in measure(kind).items():
            print(
                f"{kind:10} {name:34} sealed {f['sealed_per_s']:8.0f}/s  "
                f"unsealed {f['unsealed_per_s']:8.0f}/s  ratio {f['ratio']:.2f}"
            )
