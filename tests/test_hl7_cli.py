"""`doseledger hl7 FILE`: a file of messages booked, a line per message, the ACKs written."""

from __future__ import annotations

from tests.test_hl7 import CDC, message


def test_the_cli_books_a_file_and_writes_its_acks(cli, tmp_path):
    acks = tmp_path / "acks.hl7"
    code, out, _ = cli(
        "hl7", str(CDC / "testgood.hl7"), "--province", "01", "--test-codes", "--acks", str(acks)
    )
    assert code == 0, out
    assert "33 messages: 33 AA, 0 AE, 0 AR; records: 25 booked, 8 no dose" in out
    assert acks.read_text("utf-8").count("MSA|AA|") == 33
    code, out, _ = cli("hl7", str(CDC / "testgood.hl7"), "--province", "01", "--test-codes")
    assert code == 0 and "25 already booked, 8 no dose" in out  # the same file twice: nothing new


def test_the_cli_names_what_was_refused_and_exits_2(cli, tmp_path):
    sent = tmp_path / "bad.hl7"
    sent.write_text(message("C1", cvx="999") + message("C2", record="R2"), "utf-8")
    code, out, _ = cli("hl7", str(sent), "--dry-run")
    assert code == 2
    assert "C1 AE" in out and "error: RXA-5: CVX 999 is not a COVID-19 vaccine" in out
    assert "(dry run: nothing stored)" in out
    code, out, _ = cli("hl7", str(tmp_path / "missing.hl7"))
    assert code == 1 and "cannot read" in out
