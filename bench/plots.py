"""The PNG plots of a bench run: throughput and p99 against concurrency; lag over time under load."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot(results: list[Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    written = []
    figure, (rate, p99) = plt.subplots(1, 2, figsize=(10, 4))
    for r in results:
        levels = sorted(
            int(k.split("_")[2].rstrip("c"))
            for k in r.rows
            if k.startswith("http_dose_") and k.endswith("c_1w") and k.count("_") == 3
        )
        rate.plot(levels, [r.rows[f"http_dose_{c}c_1w"].median for c in levels], marker="o", label=r.store)
        p99.plot(levels, [r.rows[f"http_dose_p99_{c}c_1w"].median for c in levels], marker="o", label=r.store)
    rate.set(title="single doses over HTTP (1 worker)", xlabel="concurrent clients", ylabel="doses/s")
    p99.set(title="p99 latency", xlabel="concurrent clients", ylabel="ms")
    for axes in (rate, p99):
        axes.set_xscale("log", base=2)
        axes.grid(True, alpha=0.3)
        axes.legend()
    figure.tight_layout()
    written.append(out / "concurrency.png")
    figure.savefig(written[-1], dpi=100)
    plt.close(figure)

    figure, axes = plt.subplots(figsize=(7, 4))
    for r in results:
        samples = r.series.get("lag", [])
        axes.plot([s[0] for s in samples], [s[1] for s in samples], label=f"{r.store}")
    axes.set(
        title="projection lag (slowest view) while 32 clients send single doses",
        xlabel="seconds into the run",
        ylabel="lag, s",
    )
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    written.append(out / "lag.png")
    figure.savefig(written[-1], dpi=100)
    plt.close(figure)
    return written
