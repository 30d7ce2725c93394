"""`doseledger serve --demo`: demo data once, and a working token for every role."""

from __future__ import annotations

from cli.serve import demo, redact
from ledger.principal import ROLES
from tests.api.conftest import Caller


def test_the_demo_seeds_an_empty_store_once_and_prints_a_working_token_per_role(service, capsys):
    demo(service.ledger, people=150)
    seeded = service.ledger.head()
    demo(service.ledger, people=150)
    out = capsys.readouterr().out
    assert "not seeding it again" in out
    assert service.ledger.head() == seeded + len(ROLES)  # the second run only made tokens
    tokens = {
        line.split()[0]: line.split()[-1]
        for line in out.splitlines()
        if line.strip() and line.split()[0] in ROLES and line.split()[-1].startswith("dl_")
    }
    assert set(tokens) == set(ROLES)
    for role, token in tokens.items():
        status = Caller(service.client, token).get("/v1/projections").status_code
        assert status == (200 if role in ("admin", "reporter", "auditor") else 403), role


def test_the_start_up_line_never_shows_a_password():
    assert (
        redact("postgresql://doseledger:s3cret@db:5432/doseledger")
        == "postgresql://doseledger:***@db:5432/doseledger"
    )
    assert redact("sqlite:////var/lib/doseledger/ledger.db") == "sqlite:////var/lib/doseledger/ledger.db"
