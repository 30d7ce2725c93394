"""`doseledger bench --quick`: every figure of the table is measured and written (no timing checks)."""

from __future__ import annotations

import json

from bench import sessions
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
    *(f"growth_{what}_start{k}" for what in ("dose", "batch") for k in (1, 2)),
    "growth_dose_30k",
    "growth_batch_30k",
    "growth_dose_around_30k",
    "growth_batch_around_30k",
    "unsealed_inline",
    "sealed_inline",
    "unsealed_import",
    "sealed_import",
    "read_dcc_p50",
    "read_shc_p50",
    "feed_json_batch",
    "feed_mllp",
    "feed_hl7_http",
    "footprint_event_bytes",
    "footprint_events_per_person",
    "footprint_person_events_bytes",
    "footprint_views_bytes",
    *(
        f"footprint_view_{name}"
        for name in ("certificates", "statistics", "localities", "review", "corrections", "issuances")
    ),
    "footprint_data_keys_bytes",
    "footprint_access_row_bytes",
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
    # The start store is measured before and after the grown level, each time at the same size.
    assert len(rows["growth_events_start"]["runs"]) == 2
    assert rows["growth_events_start"]["min"] == rows["growth_events_start"]["max"]
    assert rows["growth_dose_around_30k"]["runs"] == [
        rows["growth_dose_start1"]["median"],
        rows["growth_dose_start2"]["median"],
    ]
    assert rows["growth_dose_start_spread"]["median"] >= 1
    assert rows["import_rss"]["median"] > 10 and rows["import_large_rss"]["median"] > 10
    assert rows["lag_p99"]["median"] >= rows["lag_p50"]["median"] >= 0
    assert rows["lag_projector_share"]["median"] > 0 and rows["lag_server_cpu"]["median"] > 0
    assert ratios["lag_projector_cpu"] > 0
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
    if store == "postgresql":  # a standby's cost to the writer (bench.replication)
        for key in ("replica_async_dose", "replica_sync_dose", "replica_async_batch", "replica_sync_batch"):
            assert rows[key]["median"] > 0 and ratios[key] > 0, key
        assert rows["replica_none_dose"]["median"] > 0 and rows["replica_none_batch"]["median"] > 0
        # certificate reads served by a standby beside the primary (bench.replica_reads)
        assert rows["replica_read_primary"]["median"] > 0
        assert rows["replica_read_standby"]["median"] > 0 and ratios["replica_read_standby"] > 0
        # kept-alive sites' sessions on one server (bench.sessions)
        assert rows["sessions_lost"]["median"] == 0 and rows["sessions_non_201"]["median"] == 0
        assert ratios["sessions_doses"] > 0 and ratios["sessions_p99"] > 0
        assert rows["sessions_kib_per_connection"]["median"] > 0
    table = (tmp_path / "bench.md").read_text()
    for key in THROUGHPUTS + LATENCIES:
        assert rows[key]["label"].strip() in table, key
    assert (tmp_path / "concurrency.png").stat().st_size > 1000
    assert (tmp_path / "lag.png").stat().st_size > 1000


def test_the_sessions_bench_holds_every_session_of_its_quick_form(store_url):
    """bench.sessions --quick: 300 sites' kept-alive sessions, pausing beyond uvicorn's default
    keep-alive, every one held through the window and every dose answered 201."""
    plan = sessions.Plan.quick()

    got = sessions.measure(store_url, plan, say=lambda line: None)

    assert got["connected"] == plan.sessions
    assert (got["refused"], got["dropped"], got["unanswered"], got["non_201"]) == (0, 0, 0, 0)
    assert got["doses"] > 0 and got["statuses"] == {"201": got["doses"]}
    assert got["p99_ms"] >= got["p50_ms"] > 0 and got["alone_p50_ms"] > 0
    assert len(got["workers"]) == plan.workers  # every worker took connections
    assert got["server_rss_mib"]["connected"] > got["server_rss_mib"]["before"] > 0


def test_a_targets_run_measures_the_targets_rows_and_nothing_else(store_url):
    """`--targets`: the rows the performance targets name, each beside its baseline, without the
    rebuilds, growth, sealing, signing, feeds, footprint and standby parts (quick counts here)."""
    from dataclasses import replace

    from bench.figures import Sizes
    from bench.suite import run_store

    store = "postgresql" if store_url.startswith("postgresql") else "sqlite"
    result = run_store(store, replace(Sizes.quick(), concurrency=(32,), scope="targets"), say=lambda _: None)

    for key in ("http_dose_32c_1w", "http_batch_1w", "lag_load_rate", "import", "import_large"):
        assert result.rows[key].median > 0 and (result.ratio(key) or 0) > 0, key
    assert result.rows["http_certificate"].median > 0 and result.rows["lag_p99"].median >= 0
    assert result.rows["http_dose_errors_32c_1w"].median == 0
    assert ("sessions_doses" in result.rows) == (store == "postgresql")
    for skipped in ("rebuild_all", "growth_dose_start", "sealed_inline", "read_dcc_p50", "feed_mllp"):
        assert skipped not in result.rows, skipped
    assert not any(key.startswith(("footprint_", "replica_")) for key in result.rows)
