"""What signed certificates cost a read: the certificate as JSON beside its signed forms.

    .venv/bin/python -m bench.signing [sqlite|postgresql ...]

A version is signed once, by the issuer that follows the ledger; a read of `/dcc` or `/shc`
assembles the QR texts again from the certified content and the stored signatures (no signing
on a read). Per store, in one process, through the API (a TestClient, no network): p50 of a
certificate read (the baseline), of the EU DCC read and of the SMART Health Card read, each over
the same people, rounds rotated so that no warm-up favours one; and what signing one version of
three doses costs the issuer (three DCCs and one card).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from bench.imports import drop_store, fresh_store
from ledger.certification import Certified, CertifiedDose
from ledger.values import Actor

SITE = Actor("bench-site", "site")
CLI = {"principal_id": "bench", "role": "admin"}
KEYS_DIR, PASSPHRASE = "DOSELEDGER_SIGNING_KEYS_DIR", "DOSELEDGER_SIGNING_PASSPHRASE"
FORMS = ("certificate", "dcc", "shc")


@contextmanager
def temporary_keys(folder: Path) -> Iterator[None]:
    """Signing keys of the run's own, in the environment the issuer reads them from."""
    from signing.keys import SigningKeys

    was = {k: os.environ.get(k) for k in (KEYS_DIR, PASSPHRASE)}
    os.environ[KEYS_DIR] = str(folder / "signing")
    os.environ[PASSPHRASE] = os.urandom(16).hex()
    try:
        SigningKeys.from_env().create()
        yield
    finally:
        for k, v in was.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _dose(k: int, n: int) -> dict[str, Any]:
    return {
        "site_id": "01-TYT-001",
        "site_record_id": f"S{k}-{n}",
        "vaccine": "EU/1/20/1528",
        "lot": f"FA{n}",
        "administered_at": f"2021-0{n + 6}-01",
    }


def _person(k: int) -> dict[str, Any]:
    return {"full_name": f"Nguyễn Thị Hương {k}", "birth_date": "1980-01-01", "province": "01"}


def read_latencies(kind: str, people: int, reads: int, repeats: int) -> dict[str, list[float]]:
    """p50 in ms of each read, per repetition."""
    from api.app import create_app
    from cli.certificates import signing_from_env
    from config.settings import Settings
    from projections import open_views
    from projections.running import start_embedded
    from usecases.application import DoseLedger
    from usecases.principals import issue_token

    found: dict[str, list[float]] = {form: [] for form in FORMS}
    with tempfile.TemporaryDirectory() as tmp, temporary_keys(Path(tmp)):
        url = fresh_store(kind, Path(tmp))
        try:
            ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": url})
            projector = start_embedded(url, sign=signing_from_env())
            views = open_views(url, ledger=ledger)
            app = create_app(Settings(database_url=url, group_commit_ms=0), ledger=ledger, views=views)
            token = issue_token(ledger, role="admin", actor=CLI)[0]
            ids = []
            for k in range(people):
                receipt = ledger.record_dose(actor=SITE, person=_person(k), **_dose(k, 0))
                for n in (1, 2):
                    ledger.record_dose(actor=SITE, person_id=receipt.person_id, **_dose(k, n))
                ids.append(receipt.person_id)
            headers = {"Authorization": f"Bearer {token}"}
            with TestClient(app) as client:
                _until_issued(client, headers, ids)
                for round_ in range(repeats):
                    order = FORMS[round_ % 3 :] + FORMS[: round_ % 3]
                    for form in order:
                        found[form].append(_p50(client, headers, ids, form, reads))
            projector.stop()
            views.close()
            ledger.close()
        finally:
            drop_store(url)
    return found


def _path(person_id: Any, form: str) -> str:
    return f"/v1/certificates/{person_id}" + ("" if form == "certificate" else f"/{form}")


def _until_issued(client: TestClient, headers: dict[str, str], ids: list[Any]) -> None:
    deadline = time.monotonic() + 120
    for person_id in ids:
        while client.get(_path(person_id, "shc"), headers=headers).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the issuer did not sign every certificate within 120 s")
            time.sleep(0.05)


def _p50(client: TestClient, headers: dict[str, str], ids: list[Any], form: str, reads: int) -> float:
    times = []
    for i in range(reads):
        started = time.perf_counter()
        answer = client.get(_path(ids[i % len(ids)], form), headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text
    return statistics.median(times)


def sign_version_ms(times: int = 200) -> float:
    """Signing one version of three doses (three DCCs, one card): once per version, never per read."""
    from signing.documents import Signers, sign_version

    with tempfile.TemporaryDirectory() as tmp, temporary_keys(Path(tmp)):
        from signing.keys import SigningKeys

        keys = SigningKeys.from_env()
        signers = Signers(keys.dcc_signer(), keys.shc_signer(), "https://bench.example", "Bench")
        certified = Certified(
            person_id="00000000-0000-4000-8000-000000000000",
            rules_version=1,
            full_name="Nguyễn Thị Hương",
            birth_date="1980-01-01",
            status="booster",
            doses=tuple(
                CertifiedDose(
                    f"d{n}",
                    "EU/1/20/1528",
                    "ORG-100030215",
                    "1119349007",
                    "208",
                    n,
                    2 if n < 3 else 3,
                    f"2021-0{n + 6}-01",
                    f"FA{n}",
                    "01-TYT-001",
                )
                for n in (1, 2, 3)
            ),
        )
        key = b"k" * 32
        started = time.perf_counter()
        for i in range(times):
            sign_version(certified, f"cert-{i}", key, signers, datetime.now(UTC))
        return (time.perf_counter() - started) * 1000 / times


def into(result: Any, kind: str, repeats: int, people: int = 50, reads: int = 300) -> None:
    """The signed reads beside the plain one, and signing a version, as rows of `doseledger bench`."""
    found = read_latencies(kind, people, reads, repeats)
    result.add("read_certificate_p50", "certificate read (JSON), p50", "ms", found["certificate"])
    result.add(
        "read_dcc_p50", "  EU DCC read (QR texts assembled), p50", "ms", found["dcc"], "read_certificate_p50"
    )
    result.add("read_shc_p50", "  SMART Health Card read, p50", "ms", found["shc"], "read_certificate_p50")
    result.add(
        "sign_version",
        "signing a version of 3 doses (once per version)",
        "ms",
        [sign_version_ms() for _ in range(repeats)],
    )


if __name__ == "__main__":
    for kind in sys.argv[1:] or ["sqlite", "postgresql"]:
        found = read_latencies(kind, 50, 300, 3)
        medians = {form: statistics.median(v) for form, v in found.items()}
        base = medians["certificate"]
        print(
            f"{kind:10} certificate p50 {base:.3f} ms  dcc {medians['dcc']:.3f} ms (+{medians['dcc'] - base:.3f})  "
            f"shc {medians['shc']:.3f} ms (+{medians['shc'] - base:.3f})  sign a version {sign_version_ms():.3f} ms"
        )
