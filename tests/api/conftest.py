"""An HTTP client on the API over each store (the `ledger` fixture: SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from config.settings import Settings
from projections import open_views
from projections.running import start_embedded
from usecases.application import DoseLedger
from usecases.principals import issue_token

CLI = {"principal_id": "tests", "role": "admin"}


class Caller:
    """The test client, sending one token's Authorization header with every request."""

    def __init__(self, client: TestClient, token: str | None) -> None:
        self.client = client
        self.token = token

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        if self.token is not None:
            kwargs["headers"] = {"Authorization": f"Bearer {self.token}", **kwargs.get("headers", {})}
        return self.client.request(method, url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.request("POST", url, **kwargs)


@dataclass
class Service:
    app: FastAPI
    client: TestClient
    ledger: DoseLedger

    def token(self, role: str, **scope: Any) -> str:
        return issue_token(self.ledger, role=role, actor=CLI, **scope)[0]

    def caller(self, role: str, **scope: Any) -> Caller:
        return Caller(self.client, self.token(role, **scope))

    def anonymous(self) -> Caller:
        return Caller(self.client, None)


@contextmanager
def read_side(ledger: DoseLedger, store_url: str) -> Iterator[Any]:
    """The projections' views, kept up to date by an embedded projector while a test runs."""
    projector = start_embedded(store_url)
    try:
        yield open_views(store_url, ledger=ledger)
    finally:
        projector.stop()


@pytest.fixture(autouse=True)
def one_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rate limits count in fixed minutes: a test's calls all fall in one (the middle of
    one), so a minute that turns during a test never resets a count it checks."""
    monkeypatch.setattr("store.rate_limits.now", lambda: 1_800_000_030.0)


@pytest.fixture
def settings(store_url: str) -> Settings:
    # A read with min_position waits for the views up to this long: on a busy machine a page of
    # the projector can take seconds. Tests of the wait's 503 set a short one of their own.
    return Settings(database_url=store_url, read_wait_seconds=30)


@pytest.fixture
def service(ledger: DoseLedger, store_url: str, settings: Settings) -> Iterator[Service]:
    with read_side(ledger, store_url) as views:
        app = create_app(settings, ledger=ledger, views=views)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Service(app, client, ledger)


@contextmanager
def another_worker(settings: Settings) -> Iterator[TestClient]:
    """A second app on the same store, with a ledger, views and caches of its own: a worker
    of another process, as far as anything shared goes (only the store is)."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def lan(**overrides: Any) -> dict[str, Any]:
    person = {
        "full_name": "Nguyễn Thị Lan",
        "birth_date": "1985-03-14",
        "sex": "female",
        "national_id": "001185012345",
        "phone": "0912345678",
        "province": "01",
        "district": "Ba Đình",
        "address": "12 Phố Huế",
    }
    person.update(overrides)
    return person


def dose(record: str, **overrides: Any) -> dict[str, Any]:
    fields = {
        "site_id": "01-TYT-001",
        "site_record_id": record,
        "vaccine": "EU/1/20/1528",
        "lot": "FA1234",
        "administered_at": "2021-08-01",
    }
    fields.update(overrides)
    return fields
