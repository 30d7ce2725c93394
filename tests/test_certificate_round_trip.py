"""Issue → verify for a thousand generated people, on SQLite and PostgreSQL.

People with Vietnamese names get 1–4 doses of catalog products through the ledger; the
projector's issuer signs with the run's keys. In rounds, once every current version is issued,
each person's signed forms are read as a user gets them (the DCC and SHC routes, admin token);
then a random third of the people change: a lot or a date amended, a dose voided, two people
merged. At the end every form of a superseded version verifies as revoked and every current one
as valid, as `POST /v1/verify` answers (the deployment's trust, the issuances view's
revocations); nothing was signed twice; the revocation list holds exactly the revoked DCCs.
"""

from __future__ import annotations

import base64
import hashlib
import random
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from api.app import create_app
from cli.demo import FAMILY
from cli.demo import GIVEN as DEMO_GIVEN
from cli.demo import MIDDLE as DEMO_MIDDLE
from config.settings import Settings
from ledger.catalog import vaccine_catalog
from ledger.errors import InvalidValue
from ledger.series_rules import shipped
from ledger.values import Actor
from projections import Views, open_views
from projections.running import start_embedded
from signing.keys import SigningKeys
from signing.verify import verify_qr
from tests.api.conftest import Service
from tests.api.signed import run_keys_sign
from tests.readside import FAST, signed_and_caught_up

PEOPLE = 1000
ROUNDS = 2  # rounds of changes: three captures of the forms in all (about 30–45 s a store)
SITE = Actor("site-token-1", "site")
ADMIN = Actor("admin-1", "admin")
# The demo's names, plus no middle name at all.
MIDDLE = (*sorted({m for names in DEMO_MIDDLE.values() for m in names}), "")
GIVEN = tuple(sorted({g for names in DEMO_GIVEN.values() for g in names}))
DISTRICTS = {"01": "Ba Đình", "79": "Quận 1", "48": "Hải Châu", "31": "Hồng Bàng"}


class RecordingSign:
    """The run's keys' signing function, every certificate id it signs kept (thread-safe: the
    projector's issuer calls it from its own thread)."""

    def __init__(self, ledger: Any) -> None:
        self.sign = run_keys_sign(ledger)
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, certified: Any, certificate_id: str, key: bytes, now: datetime) -> Any:
        with self.lock:
            self.calls.append(certificate_id)
        return self.sign(certified, certificate_id, key, now)


@dataclass
class Population:
    """The generated people and their doses (person id → dose ids), as the test drives them."""

    chance: random.Random
    doses: dict[str, list[str]] = field(default_factory=dict)
    lots: int = 0

    def person(self) -> dict[str, Any]:
        chance = self.chance
        province = chance.choice(sorted(DISTRICTS))
        middle = chance.choice(MIDDLE)
        name = " ".join(p for p in (chance.choice(FAMILY), middle, chance.choice(GIVEN)) if p)
        born = date(1940, 1, 1) + timedelta(days=chance.randrange(365 * 62))
        return {
            "full_name": name,
            "birth_date": born.isoformat(),
            "sex": chance.choice(("female", "male")),
            "national_id": None,
            "phone": f"09{chance.randrange(10**8):08d}" if chance.random() < 0.7 else None,
            "province": province,
            "district": DISTRICTS[province],
            "address": f"{chance.randrange(1, 300)} Phố Huế",
        }

    def lot(self) -> str:
        self.lots += 1
        return f"L{self.lots:06d}"

    def day(self) -> str:
        return (date(2021, 3, 1) + timedelta(days=self.chance.randrange(600))).isoformat()


def signable_products() -> list[str]:
    """The catalog's products but those certified with no CVX code: a SMART Health Card cannot
    encode their doses and the issuer then stops (see the report); not certified is fine."""
    products = shipped().products
    return sorted(
        code
        for code in vaccine_catalog().vaccines
        if (p := products.get(code)) is None or not p.certifiable or p.vp is None or p.cvx
    )


def record_people(ledger: Any, population: Population) -> None:
    products = signable_products()
    items = []
    for n in range(PEOPLE):
        person_id = str(ledger.register_person(population.person(), actor=SITE).person_id)
        population.doses[person_id] = []
        product = population.chance.choice(products)
        start = date(2021, 3, 1) + timedelta(days=population.chance.randrange(120))
        for d in range(population.chance.randint(1, 4)):
            items.append(
                {
                    "site_id": "HN-001",
                    "site_record_id": f"P{n}-D{d}",
                    "vaccine": product
                    if population.chance.random() < 0.8
                    else population.chance.choice(products),
                    "lot": population.lot(),
                    "administered_at": (start + timedelta(days=35 * d)).isoformat(),
                    "person_id": person_id,
                }
            )
    for first in range(0, len(items), 500):
        outcomes = ledger.record_doses(items[first : first + 500], actor=SITE)
        for item, outcome in zip(items[first : first + 500], outcomes, strict=True):
            assert outcome.receipt is not None, outcome.error
            population.doses[item["person_id"]].append(str(outcome.receipt.dose_id))


def change_a_third(ledger: Any, population: Population) -> Counter[str]:
    """Amend (lot or date), void or merge for a random third of the people still open."""
    chance, done = population.chance, Counter[str]()
    chosen = chance.sample([p for p, d in population.doses.items() if d], PEOPLE // 3)  # in recorded order
    while chosen:
        person_id = chosen.pop()
        doses = population.doses[person_id]
        roll = chance.random()
        if roll < 0.15 and chosen:
            duplicate = chosen.pop()
            ledger.merge_persons(person_id, duplicate, "registered twice", actor=ADMIN)
            del population.doses[duplicate]  # its doses are the survivor's now; never touched again
            done["merged"] += 1
        elif roll < 0.3:
            doses.remove(dose_id := chance.choice(doses))
            ledger.void_dose(dose_id, "entered in error", actor=ADMIN)
            done["voided"] += 1
        elif roll < 0.65:
            ledger.amend_dose(chance.choice(doses), {"lot": population.lot()}, "lot mistyped", actor=ADMIN)
            done["lot"] += 1
        else:
            dose_id = chance.choice(doses)
            while True:  # a day other than the dose's own (the ledger refuses a change to nothing)
                try:
                    ledger.amend_dose(dose_id, {"administered_at": population.day()}, "date", actor=ADMIN)
                    break
                except InvalidValue:
                    continue
            done["date"] += 1
    return done


@contextmanager
def signing_service(ledger: Any, store_url: str, sign: RecordingSign) -> Iterator[tuple[Service, Views]]:
    projector = start_embedded(store_url, sign=sign, **FAST)
    views = open_views(store_url, ledger=ledger)
    try:
        settings = Settings(database_url=store_url, read_wait_seconds=5, verifications_per_minute=1000)
        app = create_app(settings, ledger=ledger, views=views)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Service(app, client, ledger), views
    finally:
        projector.stop()


def capture(service: Service, views: Views, admin: Any) -> dict[str, dict[str, Any]]:
    """Certificate id → {person, dcc: [QR texts], shc: [chunks]} of every current version."""
    signed_and_caught_up(views, service.ledger, timeout=600)
    forms: dict[str, dict[str, Any]] = {}
    for certificate in views.certificates.every():
        cid, person_id = certificate["certificate_id"], certificate["person_id"]
        if cid is None:
            continue
        dcc = admin.get(f"/v1/certificates/{person_id}/dcc")
        shc = admin.get(f"/v1/certificates/{person_id}/shc")
        assert dcc.status_code == shc.status_code == 200, (dcc.text, shc.text)
        assert dcc.json()["certificate_id"] == shc.json()["certificate_id"] == cid
        forms[cid] = {
            "person": person_id,
            "dcc": [d["qr"] for d in dcc.json()["documents"]],
            "uvci": dcc.json()["uvci"],
            "shc": shc.json()["qr"],
        }
    return forms


def revocation_hashes(admin: Any) -> set[str]:
    """Every UCI hash of `GET /v1/revocations`, following its pages."""
    hashes: set[str] = set()
    url: str | None = "/v1/revocations?limit=500"
    while url is not None:
        page = admin.get(url)
        assert page.status_code == 200, page.text
        for batch in page.json():
            if batch["hashType"] == "UCI":
                hashes.update(batch["hashes"])
        following = page.headers.get("X-Next-Cursor")
        url = None if following is None else f"/v1/revocations?limit=500&cursor={following}"
    return hashes


def uci_hash(uvci: str) -> str:
    """The EU revocation list's UCI hash, computed here: SHA-256 of the UVCI, 16 bytes, base64."""
    return base64.b64encode(hashlib.sha256(uvci.encode()).digest()[:16]).decode()


def test_a_thousand_people_round_trip_issue_to_verify(ledger, store_url):
    from api.verify.router import ViewRevocations

    population = Population(random.Random(20211206))
    sign = RecordingSign(ledger)
    record_people(ledger, population)
    with signing_service(ledger, store_url, sign) as (service, views):
        admin = service.caller("admin")
        captured = capture(service, views, admin)
        assert len(captured) > PEOPLE // 2  # some took only products the rules do not certify
        changes: Counter[str] = Counter()
        for _ in range(ROUNDS):
            changes += change_a_third(ledger, population)
            captured.update(capture(service, views, admin))
        # Every kind of change happened, many times.
        assert len(changes) == 4 and min(changes.values()) >= PEOPLE // 100, changes
        current = {c["certificate_id"] for c in views.certificates.every()} - {None}
        superseded = set(captured) - current
        assert len(superseded) > PEOPLE // 2, len(superseded)

        # Every form: a current one valid, a superseded one revoked (what POST /v1/verify does).
        trust = SigningKeys.from_env().trust(service.app.state.settings.certificate_issuer_url)
        revocations, at = ViewRevocations(views), datetime.now(UTC) + timedelta(minutes=1)
        wrong: list[tuple[str, str, Any]] = []
        for cid, forms in captured.items():
            for text in [*forms["dcc"], forms["shc"]]:
                verdict = verify_qr(text, trust, at=at, revocations=revocations)
                expected = (True, False) if cid in current else (False, True)
                if (verdict.valid, verdict.revoked) != expected or verdict.expired:
                    wrong.append((cid, verdict.format, verdict.reasons))
        assert wrong == [], f"{len(wrong)} wrong verdicts, first: {wrong[:3]}"

        # A sample through the route itself answers the same.
        verifier = service.anonymous()
        for cid in random.Random(7).sample(sorted(captured), 12):
            answer = verifier.post("/v1/verify", json={"qr": captured[cid]["dcc"][-1]})
            assert answer.status_code == 200, answer.text
            assert (answer.json()["valid"], answer.json()["revoked"]) == (cid in current, cid not in current)

        issued = {r["certificate_id"]: r for r in views.issuances.every()}
        assert {cid for cid, r in issued.items() if r["revoked"] is None} == current
        # No version signed twice: one signature and one Issued event per certificate id.
        assert len(sign.calls) == len(set(sign.calls)) == len(issued)
        for cid in issued:
            kinds = [type(e).__name__ for e in ledger.events.get(UUID(cid))]
            assert kinds.count("Issued") == 1, (cid, kinds)

        # The revocation list: the UCI hashes of exactly the revoked DCCs.
        revoked_uvcis = {e["uvci"] for r in issued.values() if r["revoked"] is not None for e in r["dcc"]}
        assert revoked_uvcis >= {u for cid in superseded for u in captured[cid]["uvci"]}
        assert revocation_hashes(admin) == {uci_hash(u) for u in revoked_uvcis}

        # Every id a document names as superseded is revoked in the issuances view. Last: on a
        # store where a content that came back (a void leaving an earlier set of doses) gets its
        # earlier id again, that id is current and superseded at once, and this fails.
        named = {s["certificate_id"] for c in views.certificates.every() for s in c["superseded"]}
        assert superseded <= named
        # The rest were current only within a page the projector folded at once (doses
        # recorded before it ran): never signed, so there is nothing a verifier could hold.
        assert (named - set(issued)).isdisjoint(sign.calls)
        unrevoked = [cid for cid in named & set(issued) if issued[cid]["revoked"] is None]
        assert unrevoked == [], (len(unrevoked), len(set(unrevoked) & current), changes)


def test_a_reverted_amendment_issues_a_current_version_that_verifies_valid(ledger, store_url):
    """A → B → A: the content comes back, and the version that certifies it now must verify
    as valid, not as the revoked first version."""
    from api.verify.router import ViewRevocations

    population = Population(random.Random(3))
    person_id = str(ledger.register_person(population.person(), actor=SITE).person_id)
    receipt = ledger.record_dose(
        site_id="HN-001",
        site_record_id="R1",
        vaccine="EU/1/20/1528",
        lot="FA1234",
        administered_at="2021-08-01",
        person_id=person_id,
        actor=SITE,
    )
    sign = RecordingSign(ledger)
    with signing_service(ledger, store_url, sign) as (service, views):
        admin = service.caller("admin")
        first = capture(service, views, admin)
        ledger.amend_dose(receipt.dose_id, {"lot": "FA9999"}, "lot mistyped", actor=ADMIN)
        second = capture(service, views, admin)
        ledger.amend_dose(receipt.dose_id, {"lot": "FA1234"}, "the first lot was right", actor=ADMIN)
        third = capture(service, views, admin)
        assert set(first) != set(second) and set(second) != set(third)
        [(cid, forms)] = third.items()
        trust = SigningKeys.from_env().trust(service.app.state.settings.certificate_issuer_url)
        at = datetime.now(UTC) + timedelta(minutes=1)
        for text in [*forms["dcc"], forms["shc"]]:
            verdict = verify_qr(text, trust, at=at, revocations=ViewRevocations(views))
            assert (verdict.valid, verdict.revoked) == (True, False), (cid, verdict.reasons)
        assert views.issuances.issued(cid)["revoked"] is None
