"""A long import is not stopped again and again by the garbage collector walking the heap."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from cli.main import main
from config.settings import Settings
from intake.retro import run_import
from tests.retro_files import FORM, UNIT, people_rows, write_csv
from usecases.heap import YOUNG, settle_collector


@pytest.fixture
def collector() -> Iterator[None]:
    """The test process's own settings back afterwards."""
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def collections_during(work) -> int:
    started: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.callbacks.append(count)
    try:
        work()
    finally:
        gc.callbacks.remove(count)
    return len(started)


def test_an_import_in_a_doseledger_process_is_seldom_interrupted_by_the_collector(
    ledger, tmp_path, collector
):
    path = write_csv(tmp_path / "f.csv", people_rows(2000))
    settle_collector()
    gc.collect()
    # CPython's default (a collection every 700 new objects) stops this import ~200 times.
    assert collections_during(lambda: run_import(ledger, path, FORM, actor=UNIT)) < 15


def test_every_doseledger_command_sets_its_collector_for_batches(tmp_path, collector):
    gc.set_threshold(700, 10, 10)
    assert main(["import", "--template", str(tmp_path / "template.csv")]) == 0
    assert gc.get_threshold()[0] == YOUNG


def test_each_server_worker_sets_its_own_collector_for_batches(store_url, collector):
    gc.set_threshold(700, 10, 10)
    try:
        with TestClient(create_app(Settings(database_url=store_url), freeze_heap=True)):
            assert gc.get_threshold()[0] == YOUNG
    finally:
        gc.unfreeze()
