"""The API fixtures (`service`: the app over each store, with tokens per role) for these tests too."""

import pytest

from config.settings import Settings
from tests.api.conftest import service  # noqa: F401 - a fixture, used by name


@pytest.fixture
def settings(store_url: str) -> Settings:
    # A generated min_position far past the head waits this long, then 503 (the documented answer).
    return Settings(database_url=store_url, read_wait_seconds=0.2)
