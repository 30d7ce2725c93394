"""With group commit off, each single dose is saved on its own, with the same answers."""

from __future__ import annotations

import pytest

from config.settings import Settings
from tests.api.conftest import dose, lan
from tests.api.test_doses import SITE


@pytest.fixture
def settings(store_url: str) -> Settings:
    return Settings(database_url=store_url, group_commit_ms=0)


def test_a_dose_is_created_then_a_duplicate_then_a_conflict(service):
    site = service.caller("site", **SITE)
    assert service.app.state.writer is None
    first = site.post("/v1/doses", json=dose("R1", person=lan()))
    again = site.post("/v1/doses", json=dose("R1", person=lan()))
    changed = site.post("/v1/doses", json=dose("R1", person=lan(), lot="OTHER"))
    assert (first.status_code, again.status_code, changed.status_code) == (201, 200, 409)
    assert again.json()["dose_id"] == changed.json()["dose_id"] == first.json()["dose_id"]
