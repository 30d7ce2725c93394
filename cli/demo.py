"""Seed a realistic, deterministic demo data set and print a summary.

Sites in four provinces (official, mobile, and unlisted ones that arrive provisional),
people with Vietnamese names (families sharing one phone, some without a national id), and
doses of mixed products with amendments, voids and a merge.
"""

from __future__ import annotations

import argparse
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from ledger.errors import DoseAlreadyVoided
from ledger.values import Actor
from usecases.application import DoseLedger

FAMILY = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
]
MIDDLE = {
    "male": ["Văn", "Minh", "Đức", "Hữu", "Quốc", "Thanh"],
    "female": ["Thị", "Ngọc", "Thanh", "Thu", "Mỹ"],
}
GIVEN = {
    "male": [
        "An",
        "Bình",
        "Dũng",
        "Hải",
        "Hiếu",
        "Hùng",
        "Khánh",
        "Long",
        "Minh",
        "Nam",
        "Phúc",
        "Quân",
        "Quang",
        "Sơn",
        "Trung",
        "Tuấn",
        "Đạt",
    ],
    "female": [
        "Châu",
        "Giang",
        "Hà",
        "Hạnh",
        "Hoa",
        "Hương",
        "Lan",
        "Linh",
        "Mai",
        "Ngọc",
        "Phương",
        "Tâm",
        "Thảo",
        "Trang",
        "Vy",
        "Yến",
        "Ánh",
    ],
}
PROVINCES = {
    "01": ["Ba Đình", "Hoàn Kiếm", "Đống Đa", "Cầu Giấy", "Hà Đông"],
    "79": ["Quận 1", "Quận 3", "Bình Thạnh", "Gò Vấp", "Thủ Đức"],
    "48": ["Hải Châu", "Thanh Khê", "Sơn Trà", "Liên Chiểu"],
    "92": ["Ninh Kiều", "Cái Răng", "Bình Thủy"],
}
# Products as given in 2021 in Vietnam, by weight.
VACCINES = [
    ("EU/1/21/1529", 40),
    ("EU/1/20/1528", 25),
    ("BBIBP-CorV", 20),
    ("EU/1/20/1507", 10),
    ("Sputnik-V", 3),
    ("EU/1/20/1525", 2),
]
ADMIN = Actor("demo-seed", "admin")


@dataclass
class Summary:
    sites: Counter[str] = field(default_factory=Counter)
    people: Counter[str] = field(default_factory=Counter)
    doses: Counter[str] = field(default_factory=Counter)
    corrections: Counter[str] = field(default_factory=Counter)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--people", type=int, default=2000)


def run(args: argparse.Namespace) -> int:
    with DoseLedger() as ledger:
        if ledger.head():
            print(f"The store already holds {ledger.head()} events; the demo seeds an empty store only.")
            return 1
        summary = seed(ledger, seed=args.seed, people=args.people)
    print_summary(summary)
    return 0


def seed(ledger: DoseLedger, *, seed: int = 2021, people: int = 2000) -> Summary:
    rng = random.Random(seed)
    summary = Summary()
    sites = _seed_sites(ledger, rng, summary)
    persons = _seed_people(ledger, rng, people, summary)
    _seed_doses(ledger, rng, sites, persons, summary)
    _seed_corrections(ledger, rng, sites, persons, summary)
    summary.sites["unlisted, now provisional"] = sum(
        1
        for codes in sites.values()
        for code in codes
        if (site := ledger.site(code)) is not None and site.kind == "provisional"
    )
    return summary


def _seed_sites(ledger: DoseLedger, rng: random.Random, summary: Summary) -> dict[str, list[str]]:
    sites: dict[str, list[str]] = {}
    for province, districts in PROVINCES.items():
        codes = []
        for n, district in enumerate(districts, start=1):
            code = f"{province}-TYT-{n:03d}"
            ledger.register_site(
                code,
                name=f"Trạm Y tế {district}",
                kind="official",
                province=province,
                district=district,
                actor=ADMIN,
            )
            codes.append(code)
            summary.sites["official"] += 1
        code = f"{province}-LD-01"
        ledger.register_site(
            code, name=f"Đội tiêm lưu động {province}", kind="mobile", province=province, actor=ADMIN
        )
        codes.append(code)
        summary.sites["mobile"] += 1
        # A site the directory never heard of: its doses list it provisional, never refused.
        codes.append(f"{province}-UNLISTED-{rng.randint(100, 999)}")
        sites[province] = codes
    return sites


def _name(rng: random.Random, family: str | None = None) -> tuple[str, str]:
    sex = rng.choice(["male", "female"])
    return f"{family or rng.choice(FAMILY)} {rng.choice(MIDDLE[sex])} {rng.choice(GIVEN[sex])}", sex


def _seed_people(
    ledger: DoseLedger, rng: random.Random, count: int, summary: Summary
) -> list[tuple[uuid.UUID, str, str]]:
    persons = []
    made = 0
    while made < count:
        province = rng.choice(list(PROVINCES))
        district = rng.choice(PROVINCES[province])
        family = rng.choice(FAMILY)
        phone = f"09{rng.randint(10_000_000, 99_999_999)}"
        household = rng.choices([1, 2, 3, 4], weights=[50, 20, 20, 10])[0]
        for _ in range(min(household, count - made)):
            name, sex = _name(rng, family)
            born = date(1940, 1, 1) + timedelta(days=rng.randint(0, 365 * 65))
            has_id = rng.random() < 0.8
            details = {
                "full_name": name,
                "birth_date": born.isoformat(),
                "sex": sex,
                "national_id": f"{province:0>3}{rng.randint(10**8, 10**9 - 1)}" if has_id else None,
                "phone": phone,
                "province": province,
                "district": district,
                "address": f"{rng.randint(1, 300)} đường {rng.choice(FAMILY)} {rng.choice(GIVEN['male'])}",
            }
            pid = uuid.UUID(int=rng.getrandbits(128), version=4)
            reg = ledger.register_person(details, actor=ADMIN, channel="demo", person_id=pid)
            persons.append((reg.person_id, province, born.isoformat()))
            made += 1
            summary.people["registered"] += 1
            summary.people["without national id"] += not has_id
            summary.people["sharing a phone"] += household > 1
    return persons


def _seed_doses(
    ledger: DoseLedger,
    rng: random.Random,
    sites: dict[str, list[str]],
    persons: list[tuple[uuid.UUID, str, str]],
    summary: Summary,
) -> None:
    products = [code for code, _ in VACCINES]
    weights = [w for _, w in VACCINES]
    receipts = []
    record = 0
    for person_id, province, _born in persons:
        doses = rng.choices([0, 1, 2, 3], weights=[5, 15, 55, 25])[0]
        day = date(2021, 3, 8) + timedelta(days=rng.randint(0, 200))
        for n in range(1, doses + 1):
            record += 1
            site = rng.choice(sites[province])
            actor = Actor(f"site:{site}", "site")
            receipt = ledger.record_dose(
                site_id=site,
                site_record_id=f"DEMO-{record:06d}",
                vaccine=rng.choices(products, weights)[0],
                lot=f"L{rng.randint(1000, 9999)}",
                administered_at=day.isoformat(),
                person_id=person_id,
                dose_number=n if rng.random() > 0.02 else n + 1,  # a few wrong reported numbers
                actor=actor,
            )
            receipts.append(receipt)
            summary.doses["recorded"] += 1
            day += timedelta(days=rng.randint(28, 120))
            if day > date(2022, 6, 30):
                break
    for receipt in rng.sample(receipts, 60):
        ledger.amend_dose(
            receipt.dose_id, {"lot": f"L{rng.randint(1000, 9999)}"}, "lot number mistyped", actor=ADMIN
        )
        summary.doses["amended"] += 1
    for receipt in rng.sample(receipts, 30):
        try:
            ledger.void_dose(receipt.dose_id, "entered in error (duplicate entry)", actor=ADMIN)
            summary.doses["voided"] += 1
        except DoseAlreadyVoided:  # by an earlier draw
            pass
    # One person registered twice by two sites: merged.
    person_id, province, born = persons[0]
    survivor = ledger.person(person_id)
    dup = ledger.register_person(
        {**survivor.details, "national_id": None},
        actor=ADMIN,
        channel="demo",
        person_id=uuid.UUID(int=rng.getrandbits(128), version=4),
    )
    ledger.record_dose(
        site_id=sites[province][0],
        site_record_id="DEMO-DUP-1",
        vaccine="EU/1/20/1528",
        administered_at="2022-01-15",
        person_id=dup.person_id,
        actor=Actor("site:demo", "site"),
    )
    summary.doses["recorded"] += 1
    ledger.merge_persons(person_id, dup.person_id, "same person registered twice", actor=ADMIN)
    summary.people["merged duplicates"] += 1


def _seed_corrections(
    ledger: DoseLedger,
    rng: random.Random,
    sites: dict[str, list[str]],
    persons: list[tuple[uuid.UUID, str, str]],
    summary: Summary,
) -> None:
    """Citizens' claims: some answered, some open, some open for longer than a week."""
    from ledger.rules import now_ict

    portal = Actor("demo-portal", "portal")
    for n, (person_id, province, _) in enumerate(rng.sample(persons[1:], 36)):
        days_ago = rng.randint(0, 6) if n % 3 == 0 else rng.randint(8, 40)
        filed_at = (now_ict() - timedelta(days=days_ago, hours=rng.randint(0, 23))).replace(microsecond=0)
        claim = {
            "vaccine": rng.choice(["AstraZeneca", "Pfizer", "Vero Cell"]),
            "administered_at": (date(2021, 6, 1) + timedelta(days=rng.randint(0, 200))).isoformat(),
            "site_id": rng.choice(sites[province]),
        }
        filed = ledger.request_correction(
            person_id,
            "missing_dose",
            claim,
            contact="hotline 1900",
            evidence_ref=f"photo-{n:03d}.jpg",
            filed_at=filed_at.isoformat(),
            actor=portal,
        )
        if n % 3 == 1:
            ledger.assign_correction(filed.request_id, {"province": province}, actor=ADMIN)
            outcome = "accepted" if n % 2 else "rejected"
            reason = (
                "the site's paper log confirms the dose"
                if outcome == "accepted"
                else "no such dose in the site's log for that day"
            )
            ledger.resolve_correction(
                filed.request_id, outcome, reason, actor=Actor(f"province:{province}", "province")
            )
            summary.corrections[outcome] += 1
        elif days_ago > 7:
            summary.corrections["open, overdue (> 7 days)"] += 1
        else:
            summary.corrections["open"] += 1


def print_summary(summary: Summary) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="doseledger demo data")
    table.add_column("what")
    table.add_column("kind")
    table.add_column("count", justify="right")
    for what, counter in (
        ("sites", summary.sites),
        ("people", summary.people),
        ("doses", summary.doses),
        ("correction requests", summary.corrections),
    ):
        for kind, n in counter.items():
            table.add_row(what, kind, f"{n:,}")
    Console().print(table)
