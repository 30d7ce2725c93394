"""Findings of the review of the certificates and feeds work: each test shows one."""

from __future__ import annotations

import pytest

from intake.feeds import REFUSED
from intake.hl7v2 import receive
from ledger.errors import DoseNotFound
from ledger.keys import dose_id_for
from tests.test_hl7 import ADMIN, message


def test_a_batch_message_refused_in_part_stores_none_of_its_doses(ledger):
    """intake/hl7v2/receiving.py:67-77: a message of several RXAs is tried alone (dry run), then
    booked together with the batch's other messages; a record that conflicts with an earlier
    message of the same batch is refused only then, and the message's other RXA stays booked
    while its ACK says AE."""
    first = message("M1", record="R1")
    conflicting = "ORC|RE||R1\rRXA|0|1|20210801||208^Comirnaty^CVX|0.3|mL||00||^^^HN-001||||FZ0000|||||CP|A\r"
    second = message("M2", record="R2", extra=conflicting)
    one, two = receive(ledger, (first + second).encode(), ADMIN)
    assert one.code == "AA"
    assert two.code == "AE" and REFUSED in [o.status for o in two.outcomes]
    # a message with a refused record stores nothing (receiving.py's own promise)
    with pytest.raises(DoseNotFound):
        ledger.dose_origin(dose_id_for("HN-001", "R2"))


@pytest.mark.parametrize("charset", ["base64", "rot13", "undefined"])
def test_a_charset_that_is_no_text_encoding_is_answered_ar_not_raised(ledger, charset):
    """intake/hl7v2/reading.py:71-87: MSH-18 is looked up with codecs.lookup, which also knows
    bytes-to-bytes and text-to-text codecs; decoding with them raises LookupError or
    UnicodeError (not UnicodeDecodeError), which escapes `receive`."""
    (ack,) = receive(ledger, message("C1", charset=charset).encode(), ADMIN)
    assert ack.code == "AR"
    assert "MSH^1^18" in ack.ack


def test_one_peers_bad_charset_does_not_cost_another_peer_its_acks(ledger):
    """cli/mllp.py:83-109 books every peer's gathered messages in one call; a message that
    makes `receive` raise fails the whole gathered batch (intake/mllp.py:357-362), so every
    connection in it is hung up without an ACK, other peers' included."""
    from cli.mllp import Listener
    from intake.mllp import Peer

    good = Peer("good", frozenset({"HN-001"}))
    bad = Peer("bad", frozenset({"HN-002"}))
    listener = Listener(ledger)
    answers = listener.book(
        [
            (message("G1", record="G1").encode(), good),
            (message("B1", record="B1", site="HN-002", charset="base64").encode(), bad),
        ]
    )
    assert len(answers) == 2
    assert b"MSA|AA|G1" in answers[0]
    assert b"MSA|AR|B1" in answers[1]


def test_a_version_issued_by_the_command_is_revoked_when_superseded_under_a_keyless_projector(
    ledger, store_url
):
    """projections/running.py:36-42 gives a projector started without keys no issuer at all, so
    it revokes nothing either (revoking needs no key). `doseledger certificates issue` after
    `keys create` (issue_missing: "keys made since") signs the current versions; when one is
    superseded under that projector, its Issuance is never revoked, and a projector started
    later with keys does not revoke it either (issue_missing only signs): a superseded
    certificate keeps verifying valid."""
    from projections import open_views
    from projections.running import issue_missing, start_embedded
    from tests.issuing import CountingSign, issuance
    from tests.readside import FAST, caught_up
    from tests.test_ledger import dose, lan

    sign = CountingSign()
    running = start_embedded(store_url, **FAST)  # no keys yet: no issuer
    views = open_views(store_url)
    try:
        pid = ledger.register_person(lan()).person_id
        receipt = dose(ledger, pid, "R1")
        caught_up(views, ledger)
        first = views.certificates.certificate(pid)["certificate_id"]
        assert issue_missing(store_url, sign) == 1  # keys made: the command signs it
        ledger.amend_dose(receipt.dose_id, {"lot": "FA9999"}, "lot mistyped")
        caught_up(views, ledger)
        second = views.certificates.certificate(pid)["certificate_id"]
        assert second != first
        running.stop()
        running = start_embedded(store_url, sign=sign, **FAST)  # restarted with the keys
        caught_up(views, ledger)
        issued = issuance(ledger, first)
        assert issued is not None
        assert (issued.revoked, issued.successor) == ("amended", second)
    finally:
        views.close()
        running.stop()


def test_a_name_with_no_latin_letter_does_not_stop_every_certificate(ledger, store_url):
    """signing/dcc.py:82-84 raises ValueError for a name with no ICAO 9303 letter (the ledger
    takes "李小龍" or "Александр Пушкин"); it escapes sign_version and the issuer inside the
    certificates projection's page, so the page is tried again and again: no later certificate
    of anyone is folded or signed. Such a person should get no DCC (or an SHC only), not stop
    the view."""
    from projections import open_views
    from projections.running import start_embedded
    from tests.api.signed import run_keys_sign
    from tests.readside import FAST
    from tests.test_ledger import dose, lan

    running = start_embedded(store_url, sign=run_keys_sign(ledger), **FAST)
    views = open_views(store_url)
    try:
        foreign = ledger.register_person(lan(full_name="李小龍", national_id="001185000001")).person_id
        dose(ledger, foreign, "R1")
        pid = ledger.register_person(lan(national_id="001185000002")).person_id
        dose(ledger, pid, "R2")
        assert views.wait(ledger.head(), timeout=15), views.status()
        assert views.certificates.certificate(pid)["certificate_id"] is not None
    finally:
        views.close()
        running.stop()


@pytest.mark.parametrize(
    "bad",
    [
        ("--crl", '{"kid": "k", "method": "other", "rids": []}'),  # a CRL of another method
        ("--crl", "[1, 2]"),  # not a CRL at all
        ("--jwks", '{"keys": ["not a key"]}'),
    ],
)
def test_verify_qr_with_a_bad_crl_or_jwks_file_exits_2_naming_it(cli, tmp_path, bad):
    """cli/verify_qr.py:57-58 reads --crl outside the try that turns a bad input into exit 2
    (the README: "2 when it could not run"), and that try does not catch AttributeError: the
    command dies with a traceback instead."""
    from tests.test_verify_qr_cli import WELL_KNOWN, _card, _issuer

    option, content = bad
    given = tmp_path / "given.json"
    given.write_text(content)
    args = ["verify-qr", _card("00"), "--jwks", str(WELL_KNOWN / "jwks.json"), "--issuer", _issuer()]
    if option == "--jwks":
        args[3] = str(given)
    else:
        args += [option, str(given)]
    try:
        code, _, err = cli(*args)
    except Exception as error:  # noqa: BLE001 - what the finding is about
        raise AssertionError(f"verify-qr raised {error.__class__.__name__} instead of exiting 2") from None
    assert code == 2 and err


# The check character of the DCC schema's FAQ ("UVCI checksum"), which verifiers such as the
# Swedish DIGG library validate: Luhn mod N over this 38-character alphabet, computed over the
# whole UVCI before the "#".
_FAQ_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/:"


def _faq_check_character(body: str) -> str:
    n, factor, total = len(_FAQ_ALPHABET), 2, 0
    for char in reversed(body):
        addend = factor * _FAQ_ALPHABET.index(char)
        factor = 1 if factor == 2 else 2
        total += addend // n + addend % n
    return _FAQ_ALPHABET[(n - total % n) % n]


def test_the_uvci_check_character_is_the_one_verifiers_compute():
    """ledger/certification.py:137-165 computes a Luhn mod 36 over 0-9A-Z, delimiters skipped;
    the DCC schema FAQ's check character is Luhn mod 38 over A-Z0-9/: and the whole text. Most
    UVCIs issued here carry a check character a verifier that checks it calls wrong."""
    from ledger.certification import uvci

    wrong = []
    for n in range(50):
        text = uvci(f"00000000-0000-8000-8000-{n:012d}", 0, b"k" * 32)
        body, check = text.rsplit("#", 1)
        if check != _faq_check_character(body):
            wrong.append(text)
    assert wrong == []


def test_icao_transliteration_writes_letters_of_other_alphabets_as_icao_9303_does():
    """ledger/icao.py:53-62 drops every character that has no decomposition into A-Z plus marks;
    ICAO 9303 part 3 (table of transliterations) writes Ø as OE, Æ as AE, ß as SS, Þ as TH, Ł
    as L: a foreign resident's fnt/gnt then differs from their passport's machine-readable zone."""
    from ledger.icao import transliterate

    assert transliterate("Søren") == "SOEREN"
    assert transliterate("Ærø") == "AEROE"
    assert transliterate("Straße") == "STRASSE"
    assert transliterate("Łukasz") == "LUKASZ"
