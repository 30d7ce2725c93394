"""Tokens: made by the CLI, stored hashed, trusted briefly, revoked by a new event."""

from __future__ import annotations

import pytest

from api.auth import TokenVerifier
from api.problems import Problem
from cli.main import main
from ledger.principal import Principal, principal_id_for
from store.url import URL_KEY
from tests.api.conftest import CLI, Caller
from usecases.principals import issue_token, revoke_token


@pytest.fixture(autouse=True)
def restored_environment(monkeypatch, store_url):
    monkeypatch.setenv(URL_KEY, store_url)  # the CLI sets it; put it back afterwards


def cli(capsys, store_url: str, *args: str) -> list[str]:
    code = main(["--database-url", store_url, "token", *args])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0, lines
    return lines


def test_the_cli_prints_a_token_that_works_and_stores_only_its_hash(service, store_url, capsys):
    token = cli(
        capsys,
        store_url,
        "create",
        "--role",
        "site",
        "--site",
        "01-TYT-001",
        "--name",
        "Trạm Y tế Ba Đình",
        "--expires",
        "30d",
    )[-1]
    response = Caller(service.client, token).post(
        "/v1/persons", json={"full_name": "Phạm Văn Đức", "birth_date": "1970-02-02", "province": "01"}
    )
    assert response.status_code == 201, response.text
    stored = b"".join(n.state for n in service.ledger.recorder.select_notifications(1, 1000))
    assert token.encode() not in stored and token[3:].encode() not in stored
    principal = service.ledger.repository.get(principal_id_for(token))
    assert isinstance(principal, Principal) and principal.sites == ["01-TYT-001"]


def test_the_cli_refuses_a_scope_that_does_not_fit_the_role(store_url, capsys):
    assert main(["--database-url", store_url, "token", "create", "--role", "site"]) == 2
    assert "site" in capsys.readouterr().out
    assert (
        main(["--database-url", store_url, "token", "create", "--role", "auditor", "--province", "01"]) == 2
    )
    assert (
        main(["--database-url", store_url, "token", "create", "--role", "province", "--province", "99"]) == 2
    )


def test_a_token_revoked_with_the_cli_stops_working(service, store_url, capsys):
    lines = cli(capsys, store_url, "create", "--role", "reporter")
    principal_id = lines[0].split()[1]
    token = lines[-1]
    cli(capsys, store_url, "revoke", principal_id, "--reason", "the laptop was lost")
    assert Caller(service.client, token).get("/v1/projections").status_code == 401


def test_a_verified_token_is_trusted_for_the_cache_time_then_checked_again(ledger):
    now = [0.0]
    verifier = TokenVerifier(ledger, ttl=30, clock=lambda: now[0])
    token, principal = issue_token(ledger, role="auditor", actor=CLI)
    assert verifier.principal(token).id == principal.id
    revoke_token(ledger, token, "rotated", actor=CLI)
    now[0] = 29.0
    assert verifier.principal(token).id == principal.id  # still cached
    now[0] = 31.0
    with pytest.raises(Problem) as refused:
        verifier.principal(token)
    assert refused.value.status == 401
