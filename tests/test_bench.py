"""`doseledger bench --quick`: every figure of the table is measured and written (no timing checks)."""

from __future__ import annotations

import json

from cli.main import main

THROUGHPUTS = [
    "baseline_single",
    "baseline_batched",
    "inprocess_dose",
    *(f"http_dose_{c}c_1w" for c in (1, 8, 32, 64)),
    "http_batch_1w",
    "lag_load_rate",
    "http_certificate",
    "read_decode",
    "rebuild_all",
    "rebuild_certificates",
    "rebuild_certificates_paged",
    "import",
    "import_record_doses",
    "import_large",
    "growth_dose_start",
    "growth_batch_start",
    "growth_dose_30k",
    "growth_batch_30k",
    "unsealed_inline",
    "sealed_inline",
    "unsealed_import",
    "sealed_import",
    "read_dcc_p50",
    "read_shc_p50",
    "feed_json_batch",
    "feed_mllp",
    "feed_hl7_http",
]
LATENCIES = [
    *(f"http_dose_p{p}_{c}c_1w" for p in (50, 99) for c in (1, 8, 32, 64)),
    "http_certificate_p99",
    "history_50",
    "library_get_50",
]
ERRORS = [*(f"http_dose_errors_{c}c_1w" for c in (1, 8, 32, 64)), "http_certificate_errors"]


def test_a_quick_bench_measures_every_row_beside_the_baseline(store_url, tmp_path):
    store = "postgresql" if store_url.startswith("postgresql") else "sqlite"

    assert main(["bench", "--quick", "--store", store, "--out", str(tmp_path)]) == 0

    written = json.loads((tmp_path / "bench.json").read_text())["stores"][store]
    rows, ratios = written["rows"], written["ratios"]
    for key in THROUGHPUTS + LATENCIES:
        assert rows[key]["median"] > 0, key
        assert rows[key]["min"] <= rows[key]["median"] <= rows[key]["max"], key
    for key in ERRORS:
        assert rows[key]["median"] == 0, f"{key}: requests refused or failed"
    assert rows["events_in_store"]["median"] > 1000
    assert rows["growth_events_30k"]["median"] >= 30_000 > rows["growth_events_start"]["median"]
    assert rows["import_rss"]["median"] > 10 and rows["import_large_rss"]["median"] > 10
    assert rows["lag_p99"]["median"] >= rows["lag_p50"]["median"] >= 0
    for key in (
        "inprocess_dose",
        "http_dose_32c_1w",
        "http_batch_1w",
        "import",
        "rebuild_all",
        "growth_dose_30k",
        "growth_batch_30k",
        "sealed_inline",
        "sealed_import",
        "feed_mllp",
        "feed_hl7_http",
    ):
        assert ratios[key] > 0, key
    table = (tmp_path / "bench.md").read_text()
    for key in THROUGHPUTS + LATENCIES:
        assert rows[key]["label"].strip() in table, key
    assert (tmp_path / "concurrency.png").stat().st_size > 1000
    assert (tmp_path / "lag.png").stat().st_size > 1000
