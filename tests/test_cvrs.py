"""Reading CDC CVRS flat files and mapping their rows (no store): files refused whole, row rules."""

from __future__ import annotations

import datetime
import unicodedata

import pytest

from intake.cvrs import CvrsRefused, read_rows, records_of
from tests.cvrs_files import cvrs_file, cvrs_row
from tests.testdata import TESTDATA

CDC = TESTDATA / "cdc-iis-covid-vxu" / "test-resources"
TODAY = datetime.date(2026, 1, 1)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.txt", "the file is empty"),
        ("notacvrs.txt", "not tab-delimited"),
        ("testMissingHeaders.txt", "misses CVRS columns ['recip_race_2', 'recip_race_3'"),
    ],
)
def test_a_file_that_is_no_cvrs_is_refused_whole_saying_why(name: str, reason: str) -> None:
    with pytest.raises(CvrsRefused, match=reason.replace("[", r"\[")):
        read_rows((CDC / name).read_bytes())


def test_unknown_or_repeated_columns_refuse_the_file() -> None:
    with pytest.raises(CvrsRefused, match="unknown columns"):
        read_rows(b"vax_event_id\tfavourite_colour\r\n1\tblue\r\n")
    header = cvrs_file().split(b"\r\n")[0]
    with pytest.raises(CvrsRefused, match=r"repeats columns \['cvx'\]"):
        read_rows(header + b"\tcvx\r\n")


def test_the_good_files_rows_are_read_in_order_whatever_the_header_case() -> None:
    rows = read_rows((CDC / "testgood.txt").read_bytes())
    assert len(rows) == 33
    assert [r.line for r in rows] == list(range(1, 34))
    assert rows[0]["vax_event_id"] == "good1_sample1" and rows[0]["admin_date"] == "2020-10-04"
    # Version 1 files: two more columns (a missed appointment is no dose).
    assert len(read_rows((CDC / "testgoodv1.txt").read_bytes())) == 35


def test_the_good_file_maps_without_an_issue_as_its_hl7_twin_maps() -> None:
    records = records_of(read_rows((CDC / "testgood.txt").read_bytes()), TODAY)
    assert [r.found for r in records] == [()] * 33
    first = records[0]
    assert (first.message_id, first.site_record_id, first.site_id, first.site_name) == (
        "good1_sample1",
        "good1_sample1",
        "999999",
        "Luna",
    )
    assert (first.full_name, first.birth_date, first.sex, first.completion) == (
        "Redacted Redacted Redacted",
        "2015-08-26",
        "female",
        "RE",
    )
    dose = next(r for r in records if r.message_id == "good4_sample4")
    assert (dose.vaccine_code, dose.administered_on, dose.lot, dose.completion) == (
        "900",
        "2020-10-04",
        "M9999-05",
        "CP",
    )
    assert dose.at("vaccine_code") == "cvx" and dose.at("site_record_id") == "vax_event_id"


def _issues(**values: str) -> list[tuple[str, str]]:
    (record,) = records_of(read_rows(cvrs_file(cvrs_row(**values))), TODAY)
    return [(i.where, i.severity) for i in record.found]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, []),
        ({"admin_date": "10/24/2020"}, [("admin_date", "error")]),
        ({"admin_date": "2020-10"}, [("admin_date", "error")]),
        ({"recip_dob": "2015-26-08"}, [("recip_dob", "error")]),
        ({"admin_date": "2032-10-04"}, [("admin_date", "error")]),
        ({"admin_date": ""}, [("admin_date", "error")]),
        ({"ext_type": "Q"}, [("ext_type", "error")]),
        ({"pprl_id": "x"}, [("pprl_id", "error")]),
        (
            {"ext_type": "D", "recip_first_name": "Redacted"},
            [("recip_middle_name", "error")]
            + [
                (c, "error")
                for c in (
                    "recip_last_name",
                    "recip_address_street",
                    "recip_address_street_2",
                    "recip_address_city",
                )
            ],
        ),
        ({"recip_sex": "UNK"}, [("recip_sex", "error")]),
        ({"vax_refusal": ""}, [("vax_refusal", "error")]),
        ({"mvx": "AAAA"}, [("mvx", "error")]),
        ({"admin_type": "POD"}, [("admin_type", "warning")]),
        ({"recip_race_1": ""}, [("recip_race_1", "warning")]),
        ({"recip_address_zip": "48504-"}, [("recip_address_zip", "warning")]),
        (
            {"recip_address_state": "MI", "recip_address_county": "49053"},
            [("recip_address_county", "warning")],
        ),
        ({"recip_address_state": "MI", "recip_address_county": "26081"}, []),
        (
            {"vax_refusal": "Yes", "lot_number": "X1", "dose_num": "", "vax_series_complete": ""},
            [("lot_number", "warning")],
        ),
        ({"dose_num": ""}, [("dose_num", "warning")]),
    ],
)
def test_each_rule_names_its_column_and_how_bad(
    values: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    assert _issues(**values) == expected


def test_no_issue_quotes_a_personal_value() -> None:
    values = {"recip_dob": "2015-26-08", "recip_address_zip": "48504-", "recip_first_name": "Hương"}
    (record,) = records_of(read_rows(cvrs_file(cvrs_row(ext_type="D", **values))), TODAY)
    text = " ".join(i.reason for i in record.found)
    assert record.found and not any(v in text for v in values.values())


def test_a_row_id_sent_twice_in_one_file_refuses_the_second() -> None:
    first, second = cvrs_row(vax_event_id="same"), cvrs_row(vax_event_id="same")
    records = records_of(read_rows(cvrs_file(first, second)), TODAY)
    assert records[0].found == ()
    assert [(i.where, i.reason) for i in records[1].found] == [
        ("vax_event_id", "the same vax_event_id as line 1")
    ]


def _windows_1258(text: str) -> bytes:
    """As Windows-1258 writes Vietnamese: letters with their vowel marks, tones combining after."""
    tones = "\u0300\u0301\u0303\u0309\u0323"
    out = []
    for ch in text:
        parts = unicodedata.normalize("NFD", ch)
        out.append(unicodedata.normalize("NFC", "".join(c for c in parts if c not in tones)))
        out.extend(c for c in parts if c in tones)
    return "".join(out).encode("cp1258")


def test_windows_1258_names_are_read_when_the_file_is_not_utf8() -> None:
    text = cvrs_file(cvrs_row(recip_first_name="Nguyễn", recip_middle_name="Thị", recip_last_name="Hương"))
    as_1258 = _windows_1258(text.decode("utf-8"))
    assert as_1258 != text
    for data in (text, as_1258):
        (record,) = records_of(read_rows(data), TODAY)
        assert record.full_name == "Nguyễn Thị Hương"
