"""Retro import throughput (rows/s) and peak memory (RSS) on generated files, SQLite and PostgreSQL.

Each run imports a freshly generated file into an empty store, in its own process, so its peak
RSS is its own. Beside it, in the same run and on the same store, the baseline: the same
doses handed to `DoseLedger.record_doses` directly in chunks of the same size (no file, no
parsing), so the ratio tells what reading and checking the file costs.

    .venv/bin/python -m bench.imports --rows 100000 --repeats 3
    .venv/bin/python -m bench.imports --rows 1000000 --repeats 1 --stores postgresql

The generated file: people with two doses each on average, 70% with a national id (the others
matched on name, birth date and phone), 10% of rows without a record id (keyed by content),
and 1% bad rows (refused with a reason).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from intake.retro.columns import COLUMNS

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Phan", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô"]
MIDDLE = ["Văn", "Thị", "Minh", "Ngọc", "Đức", "Thanh", "Hữu", "Thu"]
GIVEN = [
    "An",
    "Bình",
    "Châu",
    "Dũng",
    "Giang",
    "Hà",
    "Hải",
    "Hoa",
    "Hùng",
    "Lan",
    "Linh",
    "Long",
    "Mai",
    "Nam",
    "Phúc",
    "Quân",
    "Sơn",
    "Tâm",
    "Trang",
    "Tuấn",
    "Vy",
    "Yến",
]
VACCINES = ["AstraZeneca", "Pfizer", "Vero Cell", "Moderna", "EU/1/21/1529", "Sinopharm"]


def generate(path: Path, rows: int, seed: int = 2021) -> None:
    """A file of `rows` rows in the template's shape, written as it is generated."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        out = csv.writer(f)
        out.writerow([c.header for c in COLUMNS])
        n = person = 0
        while n < rows:
            person += 1
            name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)} {person}"
            born = f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1940, 2005)}"
            nid = f"0{rng.randint(1, 96):02d}{rng.randint(0, 999999999):09d}" if rng.random() < 0.7 else ""
            phone = f"09{rng.randint(0, 99999999):08d}"
            province = rng.choice(["01", "79", "48", "92"])
            for dose in range(1, rng.choice([1, 2, 2, 3]) + 1):
                if n >= rows:
                    break
                n += 1
                bad = rng.random() < 0.01
                out.writerow(
                    [
                        f"B{n}" if rng.random() < 0.9 else "",
                        name,
                        born,
                        rng.choice(["Nam", "Nữ"]),
                        nid,
                        phone,
                        province,
                        "Quận 1",
                        "Snake Oil" if bad else rng.choice(VACCINES),
                        f"L{rng.randint(100, 999)}",
                        f"{rng.randint(1, 28):02d}/{6 + dose}/2021",
                        dose,
                        f"{province}-TYT-{rng.randint(1, 50):03d}",
                    ]
                )


def as_xlsx(csv_path: Path) -> Path:
    """The same rows as an XLSX workbook (as Excel would hold them: shared strings)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    with csv_path.open(encoding="utf-8-sig", newline="") as f:
        for cells in csv.reader(f):
            sheet.append(cells)
    path = csv_path.with_suffix(".xlsx")
    book.save(path)
    return path


def fresh_store(kind: str, tmp: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:8]}.db'}"
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{PG_ADMIN}?schema={schema}"


def drop_store(url: str) -> None:
    if url.startswith("postgresql"):
        schema = url.split("schema=")[1]
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    else:
        path = Path(url.removeprefix("sqlite:///"))
        for p in path.parent.glob(path.name + "*"):
            p.unlink()


def child(mode: str, url: str, path: str, chunk: int) -> dict[str, Any]:
    """One measured run, in this (child) process."""
    from intake.retro import Form, run_import
    from intake.retro.reading import open_sheet
    from intake.retro.rows import find_header
    from ledger.values import Actor
    from usecases.application import DoseLedger
    from usecases.heap import settle_collector

    settle_collector()  # as every `doseledger` command does (cli.main)
    actor = Actor("bench", "admin")
    ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": url})
    if mode == "import":
        started = time.perf_counter()
        result = run_import(ledger, path, Form("bench unit", "bench"), actor=actor, chunk_rows=chunk)
        elapsed = time.perf_counter() - started
        counts = result.counts.as_dict()
    else:  # baseline: the same rows, prepared in memory first, straight into record_doses
        with open_sheet(path) as sheet:
            shape = find_header(sheet.rows, None, None)
            items = [r.item for n, cells in sheet.rows if (r := shape.read(n, cells)) and r.item]
        started = time.perf_counter()
        for i in range(0, len(items), chunk):
            ledger.record_doses(items[i : i + chunk], actor=actor, match_identity=True)
        elapsed = time.perf_counter() - started
        counts = {"rows": len(items)}
    ledger.close()
    # A large file is read in a process of its own (intake.retro.chunks) while this one records: the
    # two peaks added, an upper bound of what the import held at once.
    peak_kib = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    )
    return {
        "seconds": elapsed,
        "rows_per_s": counts["rows"] / elapsed,
        "peak_rss_mib": peak_kib / 1024,
        "counts": counts,
    }


def measured(mode: str, kind: str, path: Path, chunk: int, tmp: Path) -> dict[str, Any]:
    url = fresh_store(kind, tmp)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "bench.imports", "--child", mode, url, str(path), str(chunk)],
            check=True,
            capture_output=True,
            text=True,
        )
        figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return figures
    finally:
        drop_store(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    parser.add_argument(
        "--baseline-rows",
        type=int,
        default=100_000,
        help="rows for the record_doses baseline (held in memory)",
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, url, path, chunk = args.child
        print(json.dumps(child(mode, url, path, int(chunk))))
        return
    with tempfile.TemporaryDirectory(prefix="bench-imports-") as tmp_name:
        tmp = Path(tmp_name)
        data, base = tmp / "rows.csv", tmp / "baseline.csv"
        generate(data, args.rows)
        generate(base, min(args.baseline_rows, args.rows))
        if args.format == "xlsx":
            data = as_xlsx(data)
        print(
            f"{args.rows:,} rows, {args.format}, {data.stat().st_size / 1e6:.0f} MB; chunks of {args.chunk}"
        )
        for kind in args.stores.split(","):
            runs = [measured("import", kind, data, args.chunk, tmp) for _ in range(args.repeats)]
            baseline = [measured("baseline", kind, base, args.chunk, tmp) for _ in range(args.repeats)]
            rate = statistics.median(r["rows_per_s"] for r in runs)
            base_rate = statistics.median(r["rows_per_s"] for r in baseline)
            print(
                json.dumps(
                    {
                        "store": kind,
                        "rows": args.rows,
                        "format": args.format,
                        "import_rows_per_s": round(rate),
                        "peak_rss_mib": round(statistics.median(r["peak_rss_mib"] for r in runs)),
                        "baseline_record_doses_rows_per_s": round(base_rate),
                        "ratio_to_baseline": round(rate / base_rate, 2),
                        "runs_rows_per_s": [round(r["rows_per_s"]) for r in runs],
                        "counts": runs[0]["counts"],
                    }
                )
            )


if __name__ == "__main__":
    main()
