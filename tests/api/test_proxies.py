"""The client's address behind a proxy: X-Forwarded-For believed from the trusted proxies only.

The app is wrapped as `doseledger serve` has uvicorn wrap it (a uvicorn Config with the options
cli/serve.py passes, loaded in this process), and a citizen's status checks, limited per client
address, show which address was counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from cli.serve import forwarding
from config.settings import Settings
from tests.api.test_corrections import PATH, filed, person_with_one_dose

PROXY = "10.0.0.5"
LIMIT = 2


@pytest.fixture
def settings(store_url: str) -> Settings:
    return Settings(database_url=store_url, status_checks_per_minute=LIMIT)


@contextmanager
def served(settings: Settings, peer: str) -> Iterator[TestClient]:
    """The app as uvicorn serves it with these settings, called from `peer`."""
    config = uvicorn.Config(create_app(settings), **forwarding(settings))
    config.load()
    with TestClient(config.loaded_app, client=(peer, 40000), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def status_url(service) -> str:
    person_id, _ = person_with_one_dose(service)
    return f"{PATH}/{filed(service.caller('portal'), person_id).json()['request_id']}/status"


def checks(client: TestClient, url: str, forwarded_for: str, n: int) -> list[int]:
    return [
        client.get(
            url, params={"code": f"GUESS{i:03d}"}, headers={"X-Forwarded-For": forwarded_for}
        ).status_code
        for i in range(n)
    ]


def test_from_a_trusted_proxy_the_forwarded_address_is_counted(settings, status_url):
    trusting = settings.model_copy(update={"trusted_proxies": "10.0.0.0/8,192.0.2.1"})
    with served(trusting, PROXY) as proxy:
        assert checks(proxy, status_url, "203.0.113.1", LIMIT + 1) == [404] * LIMIT + [429]
        # another client behind the same proxy has a count of its own
        assert checks(proxy, status_url, "198.51.100.2, 203.0.113.2", LIMIT) == [404] * LIMIT


def test_from_an_untrusted_peer_the_header_is_ignored_and_the_peer_counted(settings, status_url):
    trusting = settings.model_copy(update={"trusted_proxies": "10.0.0.0/8"})
    with served(trusting, "198.51.100.7") as stranger:
        spoofed = [
            stranger.get(status_url, params={"code": "GUESS"}, headers={"X-Forwarded-For": f"203.0.113.{n}"})
            for n in range(LIMIT + 1)
        ]
        assert [a.status_code for a in spoofed] == [404] * LIMIT + [429]


def test_with_no_trusted_proxy_no_one_is_believed_not_even_the_host_itself(settings, status_url):
    assert forwarding(settings) == {"proxy_headers": False, "forwarded_allow_ips": None}
    with served(settings, "127.0.0.1") as local:
        answers = [checks(local, status_url, f"203.0.113.{n}", 1)[0] for n in range(LIMIT + 1)]
        assert answers == [404] * LIMIT + [429]


def test_a_trusted_proxy_that_is_not_an_address_or_network_stops_the_start():
    with pytest.raises(ValueError, match="DOSELEDGER_TRUSTED_PROXIES"):
        Settings(trusted_proxies="proxy.internal")
