"""A row of a retro-import file → a dose the ledger can record, or every reason it cannot.

The header row says which column is which field (the template's names, or a mapping). A row
without its own record id gets one from its content, so the same row sent again is the same
dose: `sha256:` and the first 32 hex digits of the ledger's content digest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from intake.retro.columns import PERSON_FIELDS, REQUIRED, header_of
from intake.retro.mapping import PERSON_REF, Mapping
from intake.retro.values import READERS, BadCell, as_text, blank
from ledger.errors import LedgerError
from ledger.recording import DoseReport, dose_report

if TYPE_CHECKING:
    from intake.retro.tally_rows import TallyShape

HEADER_SEARCH_ROWS = 20  # a title or a note may sit above the header row
MIN_HEADER_FIELDS = 2  # a title row names none; a header, with a form's defaults, two or more


class TemplateMismatch(ValueError):
    """The file's columns cannot make doses (nothing is read further, nothing stored)."""


@dataclass(frozen=True)
class RowError:
    row: int
    column: str  # as the file names it (or the field, when the value came from the form)
    value: str | None
    msg: str
    flag: bool = False  # not a refusal: the row is booked as sent, for someone to check

    def as_dict(self) -> dict[str, Any]:
        found = {"row": self.row, "column": self.column, "value": self.value, "msg": self.msg}
        if self.flag:
            found["severity"] = "flag"
        return found


@dataclass
class Row:
    number: int
    item: dict[str, Any] | None  # a dose for DoseLedger.record_doses, or None if refused
    errors: list[RowError]
    cells: dict[str, tuple[str, Any]]  # field → (column label, raw value): for later errors
    report: DoseReport | None = None  # the item checked as the ledger checks it (intake.retro.chunks)
    flags: list[RowError] = field(default_factory=list)  # reported if the dose is booked
    # A tally file's row, checked (intake.retro.tally_rows): {site_id, day, vaccine, doses, province}
    tally: dict[str, Any] | None = None

    def error(self, field: str, msg: str) -> RowError:
        """A fault the ledger found, reported on the column the field came from."""
        name = field.removeprefix("person.")
        if name == "person":  # an ambiguous person: the name is where to look
            name = "full_name"
        label, value = self.cells.get(name, (header_of(name), None))
        return RowError(self.number, label, shown(value), msg)


def shown(value: Any) -> str | None:
    """A cell's value as a row error echoes it."""
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


class RowShape:
    """Which cells make which field, and the defaults a row falls back on."""

    kind = "doses"

    def __init__(
        self,
        header: list[Any],
        mapping: Mapping | None,
        site_id: str | None,
        allowed_sites: frozenset[str] | None = None,
    ):
        self.mapping = mapping or Mapping()
        parts: dict[str, list[tuple[int, int, str]]] = {}
        for i, name in enumerate(header):
            found = self.mapping.field_of(name)
            if found is not None:
                parts.setdefault(found, []).append((self.mapping.order_of(name), i, str(name).strip()))
        # field → (label, column indexes in join order)
        self.columns = {
            f: (p[0][2] if len(p) == 1 else "+".join(x[2] for x in sorted(p)), [x[1] for x in sorted(p)])
            for f, p in parts.items()
        }
        self.defaults = dict(self.mapping.defaults)
        if site_id:
            self.defaults["site_id"] = site_id
        self.allowed_sites = allowed_sites
        self.people = self.mapping.people
        from_people = self.people.fields if self.people is not None else set()
        missing = [
            f
            for f in (*REQUIRED, "site_id")
            if f not in self.columns and f not in self.defaults and f not in from_people
        ]
        if self.people is not None and PERSON_REF not in self.columns:
            missing.append(PERSON_REF)
        if missing:
            names = ", ".join(f"{header_of(f)} ({f})" for f in missing)
            hint = " (or give the site on the form)" if "site_id" in missing else ""
            raise TemplateMismatch(f"the file has no column for: {names}{hint}")

    @property
    def recognised(self) -> int:
        return len(self.columns)

    def read(self, number: int, cells: list[Any]) -> Row | None:
        """The row's dose, or its errors; None for a blank row."""
        if all(blank(c) for c in cells):
            return None
        raw: dict[str, tuple[str, Any]] = {}
        for name, (label, indexes) in self.columns.items():
            present = [cells[i] for i in indexes if i < len(cells) and not blank(cells[i])]
            value = (
                present[0]
                if len(present) == 1
                else (" ".join(str(p).strip() for p in present) if present else None)
            )
            raw[name] = (label, value)
        errors: list[RowError] = []
        row = Row(number, None, errors, raw)
        label, ref = raw.pop(PERSON_REF, (PERSON_REF, None))
        if self.people is not None:
            person = self.people.get(str(ref).strip()) if not blank(ref) else None
            if person is None:
                errors.append(
                    RowError(number, label, shown(ref), f"no person with this key in {self.people.label}")
                )
            else:
                for name, found in person.items():
                    if blank(raw.get(name, (None, None))[1]):
                        raw[name] = found
        for name, value in self.defaults.items():
            if blank(raw.get(name, (None, None))[1]):
                raw[name] = (f"{name} (form)" if name == "site_id" else f"{name} (default)", value)
        fields: dict[str, Any] = {}
        for name, (label, value) in raw.items():
            try:
                fields[name] = READERS[name](self._translated(name, value))
            except BadCell as e:
                errors.append(RowError(number, label, shown(value), str(e)))
                fields[name] = BadCell
        for name in REQUIRED + ("site_id",):
            if fields.get(name) is None:
                errors.append(row.error(name, "is required"))
        site = fields.get("site_id")
        if site and self.allowed_sites is not None and site not in self.allowed_sites:
            errors.append(row.error("site_id", "is not one of the sites you may import for"))
        if errors:
            return row
        row.item = {
            "site_id": fields["site_id"],
            "site_record_id": fields.get("site_record_id"),
            "vaccine": fields["vaccine"],
            "administered_at": fields["administered_at"],
            "lot": fields.get("lot"),
            "dose_number": fields.get("dose_number"),
            "person": {name: fields.get(name) for name in PERSON_FIELDS},
        }
        died = fields.get("death_date")
        if died is not None and fields["administered_at"][:10] > died:
            label, value = raw["administered_at"]
            row.flags.append(
                RowError(
                    number,
                    label,
                    shown(value),
                    f"flagged, booked as sent: given after the person's death ({died}, "
                    f"{raw['death_date'][0]}); check the date or the person",
                    flag=True,
                )
            )
        if row.item["site_record_id"] is None:
            try:
                digest = dose_report({**row.item, "site_record_id": "-"}).digest
            except LedgerError as e:
                row.item = None
                errors.append(row.error(e.field, e.message))
                return row
            row.item["site_record_id"] = f"sha256:{digest[:32]}"
        return row

    def _translated(self, name: str, value: Any) -> Any:
        table = self.mapping.values.get(name)
        if table is None or blank(value):
            return value
        key = as_text(value)
        if key in table:
            return table[key]
        if name in self.mapping.others:
            raise BadCell(self.mapping.others[name])
        return value


def find_header(
    rows: Any, mapping: Mapping | None, site_id: str | None, allowed_sites: frozenset[str] | None = None
) -> RowShape | TallyShape:
    """The first row, among the first few, that names enough of the fields: of doses, or of a
    tally file (its header names the day and the doses; read without a mapping)."""
    # Here, not at the top: tally_rows builds on this module's Row.
    from intake.retro.tally_rows import TallyShape, is_tally_header

    best: TemplateMismatch | None = None
    for number, cells in rows:
        if mapping is None and is_tally_header(cells):
            return TallyShape(cells, site_id, allowed_sites)
        try:
            shape = RowShape(cells, mapping, site_id, allowed_sites)
        except TemplateMismatch as e:
            recognised = sum(1 for c in cells if (mapping or Mapping()).field_of(c) is not None)
            if recognised >= MIN_HEADER_FIELDS and best is None:
                best = e  # looks like the header, lacking columns: say which
        else:
            if shape.recognised >= MIN_HEADER_FIELDS:
                return shape
        if number >= HEADER_SEARCH_ROWS:
            break
    raise best or TemplateMismatch(
        "no header row found in the first rows: use the template's column names "
        "(Họ và tên, Ngày sinh, Mã tỉnh, Tên vắc xin, Ngày tiêm, ...) or give a column mapping"
    )
