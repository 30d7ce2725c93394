"""HL7 v2 VXU^V04 through to the ledger: CDC's test files, encodings, bad input, ACKs.

Every test here stores, so each runs on SQLite and PostgreSQL (the `ledger` fixture).
"""

from __future__ import annotations

import random
import unicodedata

import hl7
import pytest

from intake.feeds import ALREADY_BOOKED, BOOKED, FLAGGED, NO_DOSE, REFUSED
from intake.hl7v2 import receive
from intake.hl7v2.profile import CDC_COVID
from intake.hl7v2.reading import split_messages
from ledger.errors import DoseNotFound
from ledger.keys import dose_id_for
from ledger.values import Actor
from tests.testdata import TESTDATA

CDC = TESTDATA / "cdc-iis-covid-vxu" / "test-resources"
ADMIN = Actor("feed-admin", "admin")
# US messages name no Vietnamese province, and carry CDC's placeholder CVX codes.
CDC_OPTIONS = dict(default_province="01", test_codes=True, profile=CDC_COVID)
DOSE_RECORDED = "ledger.person:Person.DoseRecorded"
REGISTERED = "ledger.person:Person.Registered"


def cdc(name: str) -> bytes:
    return (CDC / name).read_bytes()


def stored(ledger, topic: str) -> int:
    return sum(1 for _ in ledger.recorder.scan_streams([topic]))


def statuses(acks) -> list[str]:
    return [o.status for a in acks for o in a.outcomes]


def test_testgood_every_message_is_taken_and_each_dose_booked_once(ledger):
    acks = receive(ledger, cdc("testgood.hl7"), ADMIN, **CDC_OPTIONS)
    assert len(acks) == 33
    assert [a.code for a in acks] == ["AA"] * 33
    # RXA-20 RE: the 8 refusals book no dose; the 25 doses given are booked.
    assert statuses(acks).count(BOOKED) == 25
    assert statuses(acks).count(NO_DOSE) == 8
    assert all(i.severity == "warning" for a in acks for i in a.issues)
    assert stored(ledger, DOSE_RECORDED) == 25
    sixth = acks[5]
    assert sixth.control_id == "891101"
    dose = ledger.person(sixth.outcomes[0].person_id).dose(sixth.outcomes[0].dose_id)
    assert dose["vaccine"] == "EU/1/20/1528"  # CVX 900, a placeholder, taken as test data
    assert (dose["administered_at"], dose["lot"], dose["site_id"]) == ("2020-10-04", "M9999-05", "577689")
    assert sixth.outcomes[0].dose_id == dose_id_for("577689", "good4_sample4")
    assert ledger.site("577689").kind == "provisional"  # an unknown facility is listed
    person = ledger.person(sixth.outcomes[0].person_id)
    assert person.details["province"] == "01" and person.details["sex"] == "female"

    head = ledger.head()
    again = receive(ledger, cdc("testgood.hl7"), ADMIN, **CDC_OPTIONS)
    assert [a.code for a in again] == ["AA"] * 33
    assert statuses(again).count(ALREADY_BOOKED) == 25
    assert ledger.head() == head  # the same file twice books nothing new


# Every message of testerror.hl7 (all but number 50 have ERRORs in testerror.hl7.rpt), by its
# place in the file: the ACK code, what became of its dose, and where its issues are.
TESTERROR = {
    1: ("AE", REFUSED, ("RXA-5", "PID-7")),  # no CVX, no date of birth
    2: ("AE", REFUSED, ("RXA-5", "RXA-3")),  # no CVX, no date given
    3: ("AE", REFUSED, ("PID-7", "RXA-3")),  # partial dates (201508, 202010)
    4: ("AA", FLAGGED, ("PID-11", "RXA-11")),  # address not redacted, county/state, facility type
    5: ("AE", REFUSED, ("RXA-5",)),  # extract type Q and no CVX
    6: ("AA", FLAGGED, ("PID-3", "PID-11", "RXA-11")),  # a PPRL id in an extract of type D
    7: ("AA", FLAGGED, ("PID-11", "RXA-11")),  # first name not redacted... and counties
    8: ("AA", FLAGGED, ("PID-11", "RXA-11")),  # ZIP 48504-
    9: ("AA", FLAGGED, ("PID-5", "PID-11", "RXA-11")),  # first name NOT Redacted
    10: ("AA", FLAGGED, ("PID-8", "PID-11", "RXA-11")),  # sex UNK
    11: ("AE", REFUSED, ("RXA-5",)),  # CVX XXX
    12: ("AA", FLAGGED, ("RXA-17",)),  # MVX AAAA
    13: ("AE", REFUSED, ("RXA-5",)),  # no CVX
    14: ("AA", FLAGGED, ("RXA-11",)),  # facility county/state, facility type
    15: ("AE", REFUSED, ("RXA-5",)),  # no CVX, ZIPs
    16: ("AA", NO_DOSE, ("PID-11", "RXA-11", "RXA-20")),  # a refusal with bad ZIPs
    17: ("AE", REFUSED, ("PID-7",)),  # date of birth after the dose
    18: ("AA", FLAGGED, ("RXA-11",)),  # facility type
    19: ("AA", FLAGGED, ("RXA-11",)),
    20: ("AA", FLAGGED, ("RXA-11",)),
    21: ("AA", FLAGGED, ("RXA-11",)),
    22: ("AE", REFUSED, ("PID-7",)),  # born in 2032
    23: ("AE", REFUSED, ("RXA-3",)),  # given in 2032
    24: ("AE", REFUSED, ("RXA-3",)),
    # refusals carrying the product's details, which the profile says not to send
    **{
        n: ("AA", NO_DOSE, ("RXA-15", "RXA-16", "RXA-17", "RXA-5", "RXR-1", "OBX-5", "RXA-20"))
        for n in range(25, 33)
    },
    33: ("AE", REFUSED, ("RXA-5",)),  # no CVX
    34: ("AA", FLAGGED, ("PID-5",)),  # middle name not Redacted
    35: ("AA", FLAGGED, ("PID-5",)),  # last name not Redacted
    36: ("AE", REFUSED, ("PID-7",)),  # no date of birth
    37: ("AA", FLAGGED, ("PID-8",)),  # no sex
    38: ("AA", FLAGGED, ("PID-11",)),  # street not Redacted
    39: ("AA", FLAGGED, ("PID-11",)),  # street 2
    40: ("AA", FLAGGED, ("PID-11",)),  # city
    41: ("AA", FLAGGED, ("PID-10",)),  # no race
    42: ("AA", FLAGGED, ("PID-22",)),  # no ethnicity
    43: ("AE", REFUSED, ("RXA-3",)),  # no date given
    44: ("AE", REFUSED, ("RXA-5",)),  # no CVX
    45: ("AA", FLAGGED, ("OBX-5",)),  # no dose number
    46: ("AA", FLAGGED, ("OBX-5",)),  # no series status
    47: ("AA", FLAGGED, ("RXA-11",)),  # no facility type
    48: ("AA", FLAGGED, ("MSH-22",)),  # no responsible organisation
    49: ("AA", FLAGGED, ("RXA-11",)),  # no facility name
    50: ("AA", BOOKED, ()),  # the one record without an ERROR
    51: ("AA", FLAGGED, ("OBX-5",)),  # no risk group
    52: ("AA", FLAGGED, ("OBX-5",)),  # no serology
}


def test_testerror_every_record_with_an_error_is_refused_or_flagged(ledger):
    acks = receive(ledger, cdc("testerror.hl7"), ADMIN, **CDC_OPTIONS)
    found = {
        a.number: (a.code, a.outcomes[0].status, tuple(dict.fromkeys(i.where for i in a.issues)))
        for a in acks
    }
    assert found == TESTERROR
    booked = sum(1 for code, status, _ in TESTERROR.values() if status in (BOOKED, FLAGGED))
    assert stored(ledger, DOSE_RECORDED) == booked  # nothing of a refused message is stored
    for a in acks:
        if a.code == "AE":
            assert "MSA|AE|" in a.ack and "\rERR|" in a.ack
            assert all(i.reason for i in a.issues)
    head = ledger.head()
    again = receive(ledger, cdc("testerror.hl7"), ADMIN, **CDC_OPTIONS)
    assert [a.code for a in again] == [a.code for a in acks]
    assert ledger.head() == head


def test_without_the_profile_or_test_codes_the_cdc_files_are_judged_as_any_sender(ledger):
    acks = receive(ledger, cdc("testgood.hl7"), ADMIN, default_province="01")
    booked_before = [a for a in acks if a.outcomes[0].status != NO_DOSE]
    assert {a.code for a in booked_before} == {"AE"}  # CVX 900-902 refused: not vaccines
    assert all("CDC test placeholder" in a.issues[0].reason for a in booked_before)
    assert stored(ledger, DOSE_RECORDED) == 0
    flagged = receive(ledger, cdc("testerror.hl7"), ADMIN, default_province="01", test_codes=True)
    assert [a.outcomes[0].status for a in flagged].count(FLAGGED) == 1  # sex UNK only


def test_the_z22_refusal_deferral_and_missed_appointment_book_no_dose(ledger):
    for name in (
        "Adult_z22_non-vaccination_deferral.hl7",
        "Adult_z22_non-vaccination_missed_appointment.hl7",
        "Adult_z22_serologic_evidence_covid.hl7",
    ):
        (ack,) = receive(ledger, cdc(name), ADMIN, default_province="01")
        assert (ack.code, ack.outcomes[0].status) == ("AA", NO_DOSE), name
        assert ack.issues[-1].where == "RXA-20"
    # Its "new COVID vaccine" is CVX 24 (a substitute code for the sample: anthrax): refused.
    (ack,) = receive(ledger, cdc("Adult_z22_New_Covid_vaccine.hl7"), ADMIN, default_province="01")
    assert ack.code == "AE" and ack.issues[0].where == "RXA-5"
    assert stored(ledger, DOSE_RECORDED) == 0 and stored(ledger, REGISTERED) == 0


NAME = "Nguyễn Thị Hương"


def message(
    control: str = "M1",
    *,
    name: str = "Nguyễn^Hương^Thị",
    charset: str = "",
    born: str = "19900203",
    given: str = "20210801",
    cvx: str = "208",
    record: str = "R1",
    site: str = "HN-001",
    action: str = "A",
    completion: str = "CP",
    extra: str = "",
) -> str:
    return (
        f"MSH|^~\\&|EHR|{site}|DOSELEDGER||20210801093000||VXU^V04^VXU_V04|{control}|P|2.5.1||||||{charset}\r"
        f"PID|1||P42^^^{site}^MR||{name}||{born}|F|||12 Phố Huế^^Hà Nội^01||^PRN^PH^^84^912^345678\r"
        f"ORC|RE||{record}\r"
        f"RXA|0|1|{given}||{cvx}^Comirnaty^CVX|0.3|mL||00||^^^{site}||||FA1234|||||{completion}|{action}\r"
        f"{extra}"
    )


def cp1258(text: str) -> bytes:
    """Windows-1258 as Vietnamese software writes it: a letter the page has precomposed (ô, ư,
    ă) with its tone mark after it as a combining character (ộ = ô + combining dot below)."""
    out = b""
    for char in unicodedata.normalize("NFC", text):
        try:
            out += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        base, *marks = unicodedata.normalize("NFD", char)
        # a letter with one of its marks precomposed, the other combining; else all combining
        forms = [
            (unicodedata.normalize("NFC", base + m), marks[:i] + marks[i + 1 :]) for i, m in enumerate(marks)
        ]
        for letter, rest in [*forms, (base, marks)]:
            try:
                out += letter.encode("cp1258") + "".join(rest).encode("cp1258")
                break
            except UnicodeEncodeError:
                continue
        else:
            raise AssertionError(f"{char!r} has no Windows-1258 form")
    return out


def test_vietnamese_names_in_utf8_and_windows_1258_are_stored_alike(ledger):
    sent = {
        "utf-8 declared": message("U1", record="R1", charset="UNICODE UTF-8").encode("utf-8"),
        "utf-8 undeclared": message("U2", record="R2").encode("utf-8"),
        "1258 declared": cp1258(message("W1", record="R3", charset="CP1258")),
        "1258 undeclared": cp1258(message("W2", record="R4")),
    }
    assert sent["1258 declared"] != sent["utf-8 declared"]
    for label, data in sent.items():
        (ack,) = receive(ledger, data, ADMIN)
        assert ack.code == "AA", (label, ack.issues)
        person = ledger.person(ack.outcomes[0].person_id)
        assert person.details["full_name"] == NAME, label
        assert person.details["address"] == "12 Phố Huế, Hà Nội", label
        assert person.details["phone"] == "0912345678", label
        assert person.details["province"] == "01", label


def test_a_charset_that_does_not_match_the_bytes_is_rejected_naming_msh_18(ledger):
    (ack,) = receive(ledger, cp1258(message(charset="UNICODE UTF-8")), ADMIN)
    assert ack.code == "AR"
    assert "ERR||MSH^1^18|" in ack.ack and "MSA|AR|M1" in ack.ack
    (unknown,) = receive(ledger, message(charset="KLINGON").encode(), ADMIN)
    assert unknown.code == "AR" and "MSH-18" in unknown.ack
    assert stored(ledger, REGISTERED) == 0


def test_batches_with_any_segment_ends_give_one_ack_per_message_in_order(ledger):
    messages = [message(f"B{n}", record=f"R{n}") for n in range(3)]
    for ending in ("\r", "\r\n", "\n"):
        body = "FHS|^~\\&\rBHS|^~\\&\r" + "".join(messages) + "BTS|3\rFTS|1\r"
        acks = receive(ledger, body.replace("\r", ending).encode(), ADMIN)
        assert [(a.number, a.control_id) for a in acks] == [(1, "B0"), (2, "B1"), (3, "B2")]
        assert [a.code for a in acks] == ["AA"] * 3
    assert stored(ledger, DOSE_RECORDED) == 3


def test_bad_input_is_refused_with_segment_and_field_and_nothing_stored(ledger):
    cases = {
        "malformed segment": (message(extra="WHOOPS||CE|VXC8\r"), "segment 5", None),
        "missing date": (message(given=""), "RXA-3", "RXA^1^3"),
        "born after the dose": (message(born="20211231", given="20210801"), "PID-7", "PID^1^7"),
        "unknown CVX": (message(cvx="999"), "RXA-5", "RXA^1^5"),
        "not a date": (message(given="2021-08-01"), "RXA-3", "RXA^1^3"),
        "unknown action": (message(action="X"), "RXA-21", "RXA^1^21"),
    }
    for label, (text, where, location) in cases.items():
        (ack,) = receive(ledger, text.encode(), ADMIN)
        assert ack.code == "AE", label
        assert [i.where for i in ack.issues if i.severity == "error"] == [where], label
        if location:
            assert f"ERR||{location}|" in ack.ack, label
    assert (
        "the date of birth is after the date of administration"
        in receive(ledger, cases["born after the dose"][0].encode(), ADMIN)[0].ack
    )
    # CDC's own: a segment named WHOOPS, then one named ID: both messages refused.
    acks = receive(ledger, cdc("testencoding.hl7"), ADMIN, **CDC_OPTIONS)
    assert [a.code for a in acks] == ["AE", "AR"]  # the second has no PID left at all
    assert stored(ledger, REGISTERED) == 0 and stored(ledger, DOSE_RECORDED) == 0


def test_not_a_vxu_or_not_hl7_is_rejected_whole(ledger):
    (adt,) = receive(ledger, message().replace("VXU^V04^VXU_V04", "ADT^A01^ADT_A01").encode(), ADMIN)
    assert adt.code == "AR" and "ERR||MSH^1^9|200^" in adt.ack
    (junk,) = receive(ledger, b"hello, registry", ADMIN)
    assert junk.code == "AR" and "MSH segment" in junk.ack
    assert stored(ledger, REGISTERED) == 0


def test_a_message_with_a_refused_dose_stores_none_of_its_doses(ledger):
    second = "ORC|RE||R2\rRXA|0|1|20210901||999^Unknown^CVX|0.3|mL||00||^^^HN-001||||FB5678|||||CP|A\r"
    (ack,) = receive(ledger, message(extra=second).encode(), ADMIN)
    assert ack.code == "AE"
    assert [o.status for o in ack.outcomes] == [REFUSED, REFUSED]
    assert ack.outcomes[1].issues[0].where == "RXA[2]-5"
    assert "ERR||RXA^2^5|103^" in ack.ack
    assert stored(ledger, DOSE_RECORDED) == 0
    fixed = second.replace("999^Unknown", "208^Comirnaty")
    (ack,) = receive(ledger, message(extra=fixed).encode(), ADMIN)
    assert ack.code == "AA" and [o.status for o in ack.outcomes] == [BOOKED, BOOKED]


def test_a_message_of_several_rxas_is_booked_in_its_place_in_the_batch(ledger):
    """Checked against the messages before it, and those after it against it."""
    rxa = "ORC|RE||{}\rRXA|0|1|20210901||208^Comirnaty^CVX|0.3|mL||00||^^^HN-001||||{}|||||CP|A\r"
    batch = [
        message("M1", record="R1"),
        message("M2", record="R2", extra=rxa.format("R1", "FB0001")),  # R1 again, other content
        message("M3", record="R3", extra=rxa.format("R4", "FB0002")),  # good: booked whole
        message("M4", record="R4", given="20211001"),  # R4 of M3, other content
        message("M5", record="R5"),
    ]
    acks = receive(ledger, "".join(batch).encode(), ADMIN)
    assert [a.code for a in acks] == ["AA", "AE", "AA", "AE", "AA"]
    assert [o.status for o in acks[1].outcomes] == [REFUSED, REFUSED]
    assert [o.status for o in acks[2].outcomes] == [BOOKED, BOOKED]
    assert all(i.kind != "conflict" for i in acks[1].outcomes[0].issues)  # R2 itself was good
    assert acks[1].outcomes[1].errors[0].kind == "conflict"
    assert acks[3].outcomes[0].errors[0].kind == "conflict"
    for record, kept in {"R1": True, "R2": False, "R3": True, "R4": True, "R5": True}.items():
        try:
            ledger.dose_origin(dose_id_for("HN-001", record))
            assert kept, record
        except DoseNotFound:
            assert not kept, record
    assert stored(ledger, DOSE_RECORDED) == 4


def test_a_message_whose_amendment_the_ledger_refuses_stores_none_of_its_doses(ledger):
    """The amendment is good in the message's terms (its PID-7 is before the new date) but not
    for the person the ledger holds (born 2021-01-01): tried first, it refuses the message's
    new dose."""
    (first,) = receive(ledger, message("M1", record="R1", born="20210101").encode(), ADMIN)
    assert first.code == "AA"
    amend = "ORC|RE||R1\rRXA|0|1|20201201||208^Comirnaty^CVX|0.3|mL||00||^^^HN-001||||FA1234|||||CP|U\r"
    (ack,) = receive(ledger, message("M2", record="R2", born="20200801", extra=amend).encode(), ADMIN)
    assert ack.code == "AE"
    assert [o.status for o in ack.outcomes] == [REFUSED, REFUSED]
    assert ack.outcomes[1].errors[0].where == "RXA[2]-3"
    assert "before the person's birth date" in ack.outcomes[1].errors[0].reason
    with pytest.raises(DoseNotFound):
        ledger.dose_origin(dose_id_for("HN-001", "R2"))
    assert stored(ledger, DOSE_RECORDED) == 1


def test_rxa_21_updates_and_deletes_the_dose_of_the_site_record(ledger):
    (first,) = receive(ledger, message("A1").encode(), ADMIN)
    dose_id = first.outcomes[0].dose_id
    (update,) = receive(ledger, message("A2", action="U").replace("FA1234", "FB9999").encode(), ADMIN)
    assert update.code == "AA" and update.outcomes[0].status == BOOKED
    holder = ledger.person(first.outcomes[0].person_id)
    assert holder.dose(dose_id)["lot"] == "FB9999"
    (delete,) = receive(ledger, message("A3", action="D").encode(), ADMIN)
    assert delete.code == "AA"
    assert ledger.person(holder.id).dose(dose_id)["voided"]
    (unknown,) = receive(ledger, message("A4", action="D", record="NEVER").encode(), ADMIN)
    assert unknown.code == "AE" and unknown.issues[0].where == "ORC-3"


def test_a_site_sender_is_refused_another_sites_message_with_ar(ledger):
    acks = receive(
        ledger,
        (message("S1", site="HN-001", record="R1") + message("S2", site="HCM-9", record="R2")).encode(),
        Actor("site-token", "site"),
        allowed_sites=["HN-001"],
    )
    assert [a.code for a in acks] == ["AA", "AR"]
    assert acks[1].issues[0].reason == "this site is outside the sender's scope"
    assert "ERR||RXA^1^11|" in acks[1].ack
    try:
        ledger.dose_origin(dose_id_for("HCM-9", "R2"))
        raise AssertionError("the other site's dose was stored")
    except DoseNotFound:
        pass


def test_an_ack_is_hl7_that_names_the_message_and_the_sender(ledger):
    (ack,) = receive(ledger, message("CTRL-9", cvx="999").encode(), ADMIN)
    parsed = hl7.parse(ack.ack)
    assert str(parsed.segment("MSH")[9]) == "ACK^V04^ACK"
    assert str(parsed.segment("MSH")[5]) == "EHR" and str(parsed.segment("MSH")[6]) == "HN-001"
    assert str(parsed.segment("MSA")[1]) == "AE" and str(parsed.segment("MSA")[2]) == "CTRL-9"
    err = parsed.segment("ERR")
    assert str(err[2]) == "RXA^1^5" and str(err[3]) == "103^Table value not found^HL70357"
    assert str(err[4]) == "E" and "CVX 999" in parsed.unescape(str(err[8]))
    assert NAME not in ack.ack and "Nguyễn" not in ack.ack  # no personal data in an ACK


def test_mangled_messages_get_an_ack_each_and_never_echo_personal_data(ledger):
    """Bytes changed, dropped or added at random (seeded): never an exception, one parseable
    ACK per message received, and no name or birth date in any ACK."""
    base = (message("F1") + message("F2", record="R2", extra="OBX|1|CE|VXC8^x^PHINVS||UNK\r")).encode()
    rng = random.Random(11)
    alphabet = b"|^~\\&\r\nMSHPIDRXA0123456789 \x00\xff\xc3"
    for _ in range(150):
        data = bytearray(base)
        for _ in range(rng.randint(1, 12)):
            at = rng.randrange(len(data))
            change = rng.random()
            if change < 0.4:
                data[at] = rng.choice(alphabet)
            elif change < 0.7:
                del data[at]
            else:
                data.insert(at, rng.choice(alphabet))
        acks = receive(ledger, bytes(data), ADMIN, default_province="01")
        assert len(acks) == len(split_messages(bytes(data)))
        for ack in acks:
            assert str(hl7.parse(ack.ack).segment("MSA")[1]) == ack.code
            assert "Nguy" not in ack.ack and "19900203" not in ack.ack and "Hương" not in ack.ack


def test_a_historical_dose_is_recorded_as_reported_with_its_source(ledger):
    (ack,) = receive(ledger, message("H1").replace("|mL||00|", "|mL||01|").encode(), ADMIN)
    assert ack.code == "AA"
    (event,) = [e for e in ledger.events.get(ack.outcomes[0].person_id) if type(e).__name__ == "DoseRecorded"]
    assert event.source == {
        "kind": "feed",
        "standard": "hl7v2",
        "message_id": "H1",
        "site_id": "HN-001",
        "site_record_id": "R1",
        "historical": True,
    }


def test_testdefault_and_the_z22_samples_sent_twice_book_nothing_new(ledger):
    """CDC's testdefault.hl7 leaves out what its converter fills with defaults: every message
    is taken (none has an error the ledger cannot book past), each once."""
    first = receive(ledger, cdc("testdefault.hl7"), ADMIN, **CDC_OPTIONS)
    assert [a.code for a in first] == ["AA"] * 51
    assert statuses(first).count(NO_DOSE) == 22  # RXA-20 RE
    assert stored(ledger, DOSE_RECORDED) == 29
    head = ledger.head()
    for name in (
        "testdefault.hl7",
        "Adult_z22_non-vaccination_deferral.hl7",
        "Adult_z22_New_Covid_vaccine.hl7",
    ):
        receive(ledger, cdc(name), ADMIN, **CDC_OPTIONS)
        receive(ledger, cdc(name), ADMIN, **CDC_OPTIONS)
    assert ledger.head() == head


def test_the_site_is_the_administering_facility_else_the_order_s_else_the_sender(ledger):
    without_rxa_11 = message("O1", record="R1").replace("^^^HN-001||||FA1234", "||||FA1234")
    with_orc_17 = without_rxa_11.replace("ORC|RE||R1", "ORC|RE||R1" + "|" * 14 + "DN-7^Trạm Y tế^HL70362")
    (by_orc,) = receive(ledger, with_orc_17.encode(), ADMIN)
    (by_msh,) = receive(ledger, without_rxa_11.replace("|R1", "|R2").encode(), ADMIN)
    assert by_orc.outcomes[0].dose_id == dose_id_for("DN-7", "R1")
    assert by_msh.outcomes[0].dose_id == dose_id_for("HN-001", "R2")  # MSH-4
