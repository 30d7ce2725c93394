"""Hostile retro-import files: every row is stored or reported, and the import never crashes.

Files are generated from a valid template file and then spoiled: invalid UTF-8, cells of
100,000 characters, spreadsheet formulas (`=cmd|' /C calc'!A0`), rows with too few or too
many cells, shuffled or missing headers, or bytes that are no CSV at all. The import either
refuses the file with its documented error (UnreadableFile, TemplateMismatch) or accounts
for every row (created + duplicate + rejected = rows), stores exactly the created ones, and
writes an error report in which no echoed cell is a live formula.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intake.retro import TemplateMismatch, UnreadableFile, errors_csv, run_import
from intake.retro.columns import COLUMNS
from tests.retro_files import FORM, HEADERS, UNIT, people_rows, stored_doses

HEAVY = os.environ.get("DOSELEDGER_HEAVY") == "1"
FORMULAS = ["=cmd|' /C calc'!A0", '=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "=1+1"]
FIELDS = [c.field for c in COLUMNS]
spoiled_cell = st.one_of(
    st.sampled_from(FORMULAS),
    st.text(max_size=40),
    st.just("x" * 100_000),  # a huge line
    st.binary(max_size=20).map(lambda b: b.decode("latin-1")),
)


@st.composite
def spoiled_files(draw) -> bytes:
    if draw(st.integers(0, 19)) == 0:
        return draw(st.binary(max_size=2000))  # not a spreadsheet at all
    rows = people_rows(draw(st.integers(1, 12)), start=draw(st.integers(0, 10_000)))
    headers = list(HEADERS)
    if draw(st.booleans()) and draw(st.booleans()):
        headers = draw(st.permutations(headers))
    if draw(st.integers(0, 9)) == 0:
        headers = headers[: draw(st.integers(0, len(headers)))]
    cells = [headers] + [[r.get(f) or "" for f in FIELDS] for r in rows]
    for line in cells[1:]:
        for _ in range(draw(st.integers(0, 3))):
            line[draw(st.integers(0, len(line) - 1))] = draw(spoiled_cell)
        cut = draw(st.integers(-3, 3))  # wrong column counts
        if cut < 0:
            del line[cut:]
        elif cut > 0:
            line.extend(draw(spoiled_cell) for _ in range(cut))
    buffer = io.StringIO()
    csv.writer(buffer).writerows(cells)
    data = buffer.getvalue().encode("utf-8", "surrogateescape")
    if draw(st.integers(0, 4)) == 0:  # invalid UTF-8 somewhere in the file
        at = draw(st.integers(0, len(data)))
        data = (
            data[:at]
            + draw(st.sampled_from([b"\xff\xfe\xfa", b"\xc3\x28", b"\x80", b"\xed\xa0\x80"]))
            + data[at:]
        )
    return data


def test_a_hostile_file_is_refused_or_accounted_for_row_by_row_never_a_crash(ledger):
    tried = {"files": 0, "refused": 0, "rows": 0, "rejected": 0, "created": 0}
    folder = Path(tempfile.mkdtemp())

    @settings(
        max_examples=1500 if HEAVY else 40,
        deadline=None,
        database=None,
        derandomize=not HEAVY,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=spoiled_files())
    def import_it(data: bytes) -> None:
        path = folder / f"{tried['files']}.csv"
        path.write_bytes(data)
        tried["files"] += 1
        before = len(stored_doses(ledger))
        try:
            result = run_import(ledger, path, FORM, actor=UNIT)
        except (UnreadableFile, TemplateMismatch) as refused:
            assert str(refused)  # says why
            tried["refused"] += 1
            assert len(stored_doses(ledger)) == before
            return
        counts = result.counts
        assert result.status == "completed", result.reason
        assert counts.created + counts.duplicate + counts.rejected == counts.rows
        assert len(stored_doses(ledger)) - before == counts.created
        assert result.error_count >= counts.rejected
        report = list(csv.reader(io.StringIO("".join(errors_csv(result.errors)).lstrip("\ufeff"))))
        assert all(not cell.startswith(("=", "+", "-", "@", "\t")) for line in report[1:] for cell in line)
        tried["rows"] += counts.rows
        tried["rejected"] += counts.rejected
        tried["created"] += counts.created

    import_it()
    print(f"\n[retro fuzz] {tried}")
    assert tried["rejected"] > 0 and tried["refused"] > 0 and tried["created"] > 0


def test_digits_that_are_not_ascii_are_a_rejected_row_not_a_crash(ledger, tmp_path):
    """'²'.isdigit() is True yet int('²') raises: a dose number of '²' crashed the whole import."""
    from tests.retro_files import row, write_csv

    path = write_csv(
        tmp_path / "superscript.csv",
        [
            row("R1", dose_number="²"),
            row("R2", national_id="²" * 12, phone="0912345679"),
            row("R3", phone="٠٩١٢٣٤٥٦٧٨", national_id="001185099999"),
        ],
    )
    result = run_import(ledger, path, FORM, actor=UNIT)
    assert result.status == "completed"
    assert (result.counts.rows, result.counts.rejected, result.counts.created) == (3, 3, 0)
    assert [(e["row"], e["column"]) for e in result.errors] == [
        (2, "Mũi số"),
        (3, "Số CCCD"),
        (4, "Số điện thoại"),
    ]
