"""The statistics view's breakdowns on both stores: age bands (in Python at a dose's day, in SQL
for coverage today: the two agree at every edge), and migration 2, which brings a store whose
statistics were counted without district, age band and sex to a fresh fold of them."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from ledger.age_bands import BANDS, age_band, age_on
from projections import open_views
from projections.running import start_embedded
from tests.readside import FAST, all_doses, assert_views_are_a_fresh_fold, caught_up
from tests.test_ledger import dose, lan
from tests.test_projection_running import tamper


@pytest.mark.parametrize(
    ("born", "day", "band"),
    [
        ("2009-08-01", date(2021, 8, 1), "12-17"),  # 12 on the birthday itself
        ("2009-08-02", date(2021, 8, 1), "0-11"),
        ("2003-08-01", date(2021, 8, 1), "18-49"),
        ("1971-08-02", date(2021, 8, 1), "18-49"),  # 49, one day before 50
        ("1971-08-01", date(2021, 8, 1), "50-64"),
        ("1956-08-01", date(2021, 8, 1), "65+"),
        ("2004-02-29", date(2022, 2, 28), "12-17"),  # a leap day's child turns 18 on 1 March
        ("2004-02-29", date(2022, 3, 1), "18-49"),
        (None, date(2021, 8, 1), "unknown"),
    ],
)
def test_an_age_band_is_the_age_in_whole_years_on_the_day(born, day, band):
    assert age_band(born, day) == band
    assert band in BANDS


def test_age_on_counts_completed_years():
    assert age_on(date(2000, 2, 29), date(2001, 2, 28)) == 0
    assert age_on(date(2000, 2, 29), date(2001, 3, 1)) == 1
    assert age_on(date(1950, 1, 1), date(2021, 1, 1)) == 71


# Birth dates on each side of each band's edge, on a leap day and the day after one.
EDGES = [
    "1959-02-28", "1959-03-01", "1974-02-28", "1974-03-01", "2006-02-28", "2006-03-01",
    "2012-02-29", "2012-03-01", "2020-02-29", "2024-02-29", "1960-02-29", "1990-06-15",
]  # fmt: skip


@pytest.mark.parametrize("today", [date(2024, 2, 29), date(2025, 2, 28), date(2025, 3, 1)])
def test_coverage_by_age_band_in_sql_agrees_with_the_bands_in_python(ledger, views, today):
    for i, born in enumerate(EDGES):
        ledger.register_person(lan(national_id=f"00118{i:07d}", birth_date=born, phone=None))
    caught_up(views, ledger)
    counted = views.statistics.coverage(group_by=["age_band"], today=today)
    assert {r["age_band"]: r["people"] for r in counted} == dict(Counter(age_band(b, today) for b in EDGES))
    assert {r["status"] for r in counted} == {"none"}


def test_a_store_counted_before_the_breakdowns_is_folded_again(ledger, store_url):
    person = ledger.register_person(lan()).person_id
    dose(ledger, person, "R1")
    dose(ledger, person, "R2", administered_at="2021-08-29")
    projector = start_embedded(store_url, **FAST)
    views = open_views(store_url)
    try:
        caught_up(views, ledger)
    finally:
        views.close()
        projector.stop()
    # The store as the previous version left it: the old tables, counted up to the head, and
    # migration 2 not recorded.
    for table in ("people", "doses", "dose_counts", "coverage", "sites"):
        tamper(store_url, f"DROP TABLE statistics_{table}")
    for statement in (
        "CREATE TABLE statistics_people (person_id TEXT PRIMARY KEY, record TEXT NOT NULL, province TEXT, status TEXT)",
        "CREATE TABLE statistics_doses (person_id TEXT NOT NULL, dose_id TEXT NOT NULL, day TEXT NOT NULL, "
        "province TEXT NOT NULL, site_id TEXT NOT NULL, vaccine TEXT NOT NULL, dose_number INTEGER NOT NULL, "
        "PRIMARY KEY (person_id, dose_id))",
        "CREATE TABLE statistics_dose_counts (day TEXT NOT NULL, province TEXT NOT NULL, site_id TEXT NOT NULL, "
        "vaccine TEXT NOT NULL, dose_number INTEGER NOT NULL, doses BIGINT NOT NULL, "
        "PRIMARY KEY (day, province, site_id, vaccine, dose_number))",
        "CREATE TABLE statistics_coverage (province TEXT NOT NULL, status TEXT NOT NULL, people BIGINT NOT NULL, "
        "PRIMARY KEY (province, status))",
        "CREATE TABLE statistics_sites (key TEXT PRIMARY KEY, site_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, "
        "province TEXT)",
        "INSERT INTO statistics_dose_counts VALUES ('2021-08-01', '01', 'HN-001', 'EU/1/20/1528', 1, 1)",
        "DELETE FROM view_migrations WHERE view = 'statistics' AND number = 2",
    ):
        tamper(store_url, statement)

    projector = start_embedded(store_url, **FAST)
    views = open_views(store_url)
    try:
        caught_up(views, ledger)
        assert sum(all_doses(views).values()) == 2
        assert_views_are_a_fresh_fold(views, ledger)
        with views.statistics.reading() as sql:
            assert sql.rows("SELECT number FROM {migrations} WHERE view = 'statistics' AND number = 2")
    finally:
        views.close()
        projector.stop()
