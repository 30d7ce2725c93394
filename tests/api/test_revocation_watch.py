"""The revocation watch: each look finds the revocations stored since the last one, whoever
stored them, and only those."""

from __future__ import annotations

import pytest

from api import revocations
from api.auth import TokenVerifier
from api.problems import Problem
from api.revocations import RevocationWatch
from tests.api.conftest import CLI
from usecases.application import DoseLedger
from usecases.principals import issue_token, revoke_token


def test_each_look_finds_the_revocations_since_the_last_page_by_page(ledger, store_url, monkeypatch):
    monkeypatch.setattr(revocations, "PAGE", 2)  # five revocations: three pages
    before = [issue_token(ledger, role="reporter", actor=CLI)[1] for _ in range(2)]
    revoke_token(ledger, str(before[0].id), "before the watch began", actor=CLI)
    heard: list = []
    watch = RevocationWatch(ledger.recorder, heard.extend, every=60)
    assert watch.look() == []  # what was revoked before it began is not news
    elsewhere = DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url})  # another process's writes
    try:
        tokens = [issue_token(elsewhere, role="auditor", actor=CLI)[1] for _ in range(5)]
        for principal in tokens:
            revoke_token(elsewhere, str(principal.id), "left", actor=CLI)
        issue_token(elsewhere, role="reporter", actor=CLI)  # not a revocation
    finally:
        elsewhere.close()
    assert watch.look() == [p.id for p in tokens]
    assert heard == [p.id for p in tokens]
    assert watch.look() == []  # nothing new
    revoke_token(ledger, str(before[1].id), "later", actor=CLI)
    assert watch.look() == [before[1].id]


def test_a_forgotten_token_is_refused_even_if_a_stale_read_says_it_is_valid(ledger):
    token, principal = issue_token(ledger, role="auditor", actor=CLI)
    verifier = TokenVerifier(ledger, ttl=30)
    assert verifier.principal(token).id == principal.id
    verifier.forget([principal.id])  # the store still says valid: the watch heard first
    with pytest.raises(Problem) as refused:
        verifier.principal(token)
    assert refused.value.status == 401 and "revoked" in refused.value.detail
