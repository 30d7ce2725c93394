"""What a certificate certifies: `certify` over a person's record and a rules version."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.catalog import vaccine_catalog
from ledger.certification import Certified, CertifiedDose, certificate_id, certify
from ledger.series import evaluate
from ledger.series_rules import parse, shipped

PFIZER, JANSSEN = "EU/1/20/1528", "EU/1/20/1525"
LAN = {"full_name": "Nguyễn Thị Lan", "birth_date": "1985-03-14", "province": "01"}
PERSON_ID = "00000000-0000-4000-8000-000000000001"
KEY = b"k" * 32


def dose(n: int, vaccine: str, administered_at: str, **fields: Any) -> dict[str, Any]:
    return {
        "dose_id": f"00000000-0000-4000-8000-00000000000{n}",
        "vaccine": vaccine,
        "lot": f"FA{n}",
        "administered_at": administered_at,
        "site_id": "01-TYT-001",
        "reported_dose_number": None,
        "seq": n,
        "voided": False,
        **fields,
    }


def test_a_record_certifies_its_valid_doses_with_their_codes_and_numbers():
    record = [
        dose(1, PFIZER, "2021-08-01T09:30:00+07:00"),
        dose(2, PFIZER, "2021-08-29", lot=None),
        dose(3, "EU/1/20/1507", "2022-01-10T23:59:00+07:00", site_id="79-TYT-002"),
        dose(4, PFIZER, "2021-09-30", voided=True),
    ]
    certified = certify(PERSON_ID, LAN, evaluate(record, LAN["birth_date"]), shipped())
    assert certified == Certified(
        person_id=PERSON_ID,
        rules_version=1,
        full_name="Nguyễn Thị Lan",
        birth_date="1985-03-14",
        status="booster",
        doses=(
            CertifiedDose(
                dose_id=record[0]["dose_id"],
                vaccine=PFIZER,
                manufacturer="ORG-100030215",
                prophylaxis="1119349007",
                cvx="208",
                number=1,
                series=2,
                administered_on="2021-08-01",
                lot="FA1",
                site_id="01-TYT-001",
            ),
            CertifiedDose(
                dose_id=record[1]["dose_id"],
                vaccine=PFIZER,
                manufacturer="ORG-100030215",
                prophylaxis="1119349007",
                cvx="208",
                number=2,
                series=2,
                administered_on="2021-08-29",
                lot=None,
                site_id="01-TYT-001",
            ),
            CertifiedDose(
                dose_id=record[2]["dose_id"],
                vaccine="EU/1/20/1507",
                manufacturer="ORG-100031184",
                prophylaxis="1119349007",
                cvx="207",
                number=3,
                series=3,
                administered_on="2022-01-10",  # the day it was given, in Vietnam
                lot="FA3",
                site_id="79-TYT-002",
            ),
        ),
    )


def test_nothing_to_certify_gives_none():
    one = [dose(1, PFIZER, "2021-08-01")]
    assert certify(PERSON_ID, LAN, evaluate([]), shipped()) is None
    assert certify(PERSON_ID, LAN, evaluate([{**one[0], "voided": True}]), shipped()) is None
    erased = {**LAN, "full_name": None, "birth_date": None}
    assert certify(PERSON_ID, erased, evaluate(one), shipped()) is None
    assert certify(PERSON_ID, {"birth_date": "1985-03-14"}, evaluate(one), shipped()) is None
    assert certify(PERSON_ID, {**LAN, "birth_date": ""}, evaluate(one), shipped()) is None
    only_uncertifiable = [dose(1, "Nanocovax", "2021-08-01"), dose(2, "Nanocovax", "2021-09-01")]
    assert certify(PERSON_ID, LAN, evaluate(only_uncertifiable), shipped()) is None


def test_a_dose_no_eu_value_set_names_is_left_out_but_keeps_the_others_numbers():
    record = [
        dose(1, "Nanocovax", "2021-08-01"),
        dose(2, "Nanocovax", "2021-09-01"),
        dose(3, PFIZER, "2022-01-05"),
    ]
    certified = certify(PERSON_ID, LAN, evaluate(record), shipped())
    assert certified is not None and certified.status == "booster"
    assert [(d.vaccine, d.number, d.series) for d in certified.doses] == [(PFIZER, 3, 3)]


def test_the_rules_version_numbers_the_doses_and_is_part_of_what_is_certified():
    version_2 = parse(json.loads((Path(__file__).with_name("series-rules") / "2.json").read_text("utf-8")))
    record = evaluate([dose(1, JANSSEN, "2021-08-01"), dose(2, PFIZER, "2022-01-05")])
    under_1, under_2 = certify(PERSON_ID, LAN, record, shipped()), certify(PERSON_ID, LAN, record, version_2)
    assert under_1 is not None and under_2 is not None
    assert [(d.number, d.series) for d in under_1.doses] == [(1, 1), (2, 1)]
    assert [(d.number, d.series) for d in under_2.doses] == [(1, 1), (2, 2)]
    assert (under_1.rules_version, under_2.rules_version) == (1, 2)
    assert certificate_id(under_1, KEY, 1) != certificate_id(under_2, KEY, 1)
    # The same numbers under another version are still another certificate: the version is content.
    same_numbers = certify(PERSON_ID, LAN, evaluate([dose(1, PFIZER, "2021-08-01")]), shipped())
    assert same_numbers is not None
    assert certificate_id(same_numbers, KEY, 1) != certificate_id(
        replace(same_numbers, rules_version=2), KEY, 1
    )


CODES = sorted(vaccine_catalog().vaccines)
days = st.dates(min_value=date(2021, 3, 1), max_value=date(2023, 12, 31))
records = st.lists(
    st.tuples(
        st.sampled_from(CODES),
        days,
        st.sampled_from(["", "T08:00:00+07:00", "T21:15:00+07:00"]),
        st.booleans(),
    ),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(records, st.randoms(use_true_random=False))
def test_the_same_doses_in_any_order_certify_the_same_content_and_id(given_doses, rng):
    record = [
        dose(n, vaccine, f"{day.isoformat()}{time}", voided=voided and n % 3 == 0)
        for n, (vaccine, day, time, voided) in enumerate(given_doses, start=1)
    ]
    shuffled = [dict(d) for d in record]
    rng.shuffle(shuffled)
    first = certify(PERSON_ID, LAN, evaluate(record, LAN["birth_date"]), shipped())
    again = certify(PERSON_ID, dict(LAN), evaluate(shuffled, LAN["birth_date"]), shipped())
    assert first == again
    if first is not None:
        assert again is not None
        assert first.canonical() == again.canonical()
        assert certificate_id(first, KEY, 1) == certificate_id(again, KEY, 1)
        assert [d.number for d in first.doses] == sorted(d.number for d in first.doses)
        assert [d.administered_on for d in first.doses] == sorted(d.administered_on for d in first.doses)
