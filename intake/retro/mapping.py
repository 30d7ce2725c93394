"""How a file not in the template's shape is read: which column is which field, value tables
(e.g. CVX codes → catalog codes), defaults, and people looked up in a second file.

Inline (`--map DATE=administered_at,CODE=vaccine`): columns only. A mapping file (JSON):

    {
      "columns":  {"DATE": "administered_at", "CODE": "vaccine", "PATIENT": "person_ref"},
      "values":   {"vaccine": "cvx", "sex": {"F": "female", "M": "male"}},
      "others":   {"vaccine": "is not a COVID-19 vaccine (CVX code)"},
      "defaults": {"province": "01"},
      "people":   {"file": "patients.csv", "key": "Id",
                   "columns": {"FIRST": "full_name", "LAST": "full_name", "BIRTHDATE": "birth_date"}}
    }

A field's table of values is given whole, or by the name of a shared code table (`"cvx"`:
intake/codes.py). Several columns mapped to one field are joined with a space, in the mapping's order (a name in
parts). A value missing from its field's table passes unchanged, unless `others` gives the
reason to refuse it. `person_ref` is the key into the people file; that file's path is taken
relative to the imported file's folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intake import codes
from intake.retro.columns import FIELDS, field_of
from intake.retro.reading import UnreadableFile, open_sheet
from ledger.names import match_key

PERSON_REF = "person_ref"
IGNORE = ("", "ignore", "-")


class MappingError(ValueError):
    """A mapping that cannot be used as given (names the part at fault)."""


def _field(name: Any, where: str) -> str | None:
    if not isinstance(name, str):
        raise MappingError(f"{where}: a field name must be text, got {name!r}")
    if name.strip().lower() in IGNORE:
        return None
    found = field_of(name) or (PERSON_REF if name.strip() == PERSON_REF else None)
    if found is None:
        raise MappingError(f"{where}: {name!r} is not a field (fields: {', '.join(FIELDS)}, {PERSON_REF})")
    return found


@dataclass
class People:
    """People in a second file, by a key column: the fields a row takes from there."""

    label: str  # file name, for error reports ("patients.csv:BIRTHDATE")
    fields: set[str]  # what a row may take from there
    by_key: dict[str, dict[str, tuple[str, Any]]]  # key → field → (column label, cell)

    def get(self, key: str) -> dict[str, tuple[str, Any]] | None:
        return self.by_key.get(key)


@dataclass
class Mapping:
    columns: dict[str, str | None] = field(default_factory=dict)  # header key → field (None: ignore)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    others: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    people_spec: dict[str, Any] | None = None
    people: People | None = None
    # Where the people file is when it was sent with the import (an upload) rather than
    # found beside it; the spec's `file` stays as the name it was given, for provenance.
    people_path: Path | None = None

    def field_of(self, header: Any) -> str | None:
        """A mapped header's field; unmapped headers fall back to the template's names."""
        key = match_key(str(header)) if header is not None else ""
        if key in self.columns:
            return self.columns[key]
        return field_of(header)

    def order_of(self, header: Any) -> int:
        """Where a header comes in the mapping (parts of one field are joined in this order)."""
        key = match_key(str(header)) if header is not None else ""
        return list(self.columns).index(key) if key in self.columns else len(self.columns)

    def load_people(self, beside: Path) -> None:
        if self.people_spec is None:
            return
        spec = self.people_spec
        path = self.people_path or Path(spec["file"])
        if not path.is_absolute():
            path = beside / path
        columns = {match_key(k): _field(v, f"people.columns.{k}") for k, v in spec["columns"].items()}
        key_column = match_key(spec["key"])
        by_key: dict[str, dict[str, tuple[str, Any]]] = {}
        try:
            with open_sheet(path) as sheet:
                _, header = next(sheet.rows)
                keys = [match_key(str(h or "")) for h in header]
                if key_column not in keys:
                    raise MappingError(f"people.key: no column {spec['key']!r} in {path.name}")
                k = keys.index(key_column)
                wanted = sorted(
                    ((i, name) for i, c in enumerate(keys) if (name := columns.get(c))),
                    key=lambda p: list(columns).index(keys[p[0]]),
                )
                for _, cells in sheet.rows:
                    if k >= len(cells) or cells[k] in (None, ""):
                        continue
                    person: dict[str, tuple[str, Any]] = {}
                    for i, name in wanted:
                        cell = cells[i] if i < len(cells) else None
                        label = f"{path.name}:{header[i]}"
                        if name in person and cell not in (None, ""):
                            # a name in parts: joined in the mapping's order
                            earlier_label, earlier = person[name]
                            cell = f"{earlier} {cell}" if earlier not in (None, "") else cell
                            label = earlier_label
                        elif name in person:
                            continue
                        person[name] = (label, cell)
                    by_key[str(cells[k]).strip()] = person
        except (OSError, UnreadableFile, StopIteration) as e:
            raise MappingError(f"people.file: cannot read {path}: {e}") from None
        self.people = People(path.name, {f for f in columns.values() if f}, by_key)


def parse_mapping(spec: str | None) -> Mapping | None:
    """`col=field,...` inline, or the path of a JSON mapping file."""
    if not spec:
        return None
    path = Path(spec)
    if spec.strip().endswith(".json") or path.is_file():
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as e:
            raise MappingError(f"cannot read the mapping file {spec}: {e}") from None
        return mapping_from(data)
    return inline_mapping(spec, "--map")


def sent_mapping(sent: str) -> Mapping:
    """A mapping sent as text (an HTTP form field): a JSON object or `col=field,...`.

    Never a path: a client names no file on the server. A `people` part then needs its file
    sent too (see Mapping.people_path).
    """
    if sent.lstrip().startswith("{"):
        try:
            data = json.loads(sent)
        except ValueError as e:
            raise MappingError(f"not a JSON mapping: {e}") from None
        return mapping_from(data)
    return inline_mapping(sent, "mapping")


def inline_mapping(spec: str, where: str) -> Mapping:
    """`col=field,...`: columns only (`where` names the option or field it came in)."""
    columns: dict[str, str] = {}
    for part in spec.split(","):
        if "=" not in part:
            raise MappingError(f"{where}: {part!r} is not column=field")
        column, name = part.split("=", 1)
        columns[column.strip()] = name.strip()
    return mapping_from({"columns": columns})


def _object(value: Any, where: str) -> dict[str, Any]:
    # A mapping may come from a client (HTTP): every part is checked for its shape.
    if not isinstance(value, dict):
        raise MappingError(f"{where}: must be a JSON object")
    return value


def _value_table(table: Any, where: str) -> dict[str, str]:
    """A field's table of values: given whole, or the name of a shared code table."""
    if isinstance(table, str):
        try:
            return codes.table(table)
        except KeyError:
            known = ", ".join(sorted(codes.TABLES))
            raise MappingError(f"{where}: no shared code table named {table!r} (there is {known})") from None
    return {str(k).strip(): v for k, v in _object(table, where).items()}


def mapping_from(data: dict[str, Any]) -> Mapping:
    if not isinstance(data, dict):
        raise MappingError("a mapping is a JSON object")
    unknown = sorted(set(data) - {"columns", "values", "others", "defaults", "people"})
    if unknown:
        raise MappingError(f"{unknown[0]!r} is not a part of a mapping")
    columns = {
        match_key(k): _field(v, f"columns.{k}")
        for k, v in _object(data.get("columns", {}), "columns").items()
    }

    def by_field(part: str) -> dict[str, Any]:
        out = {}
        for name, value in _object(data.get(part, {}), part).items():
            found = _field(name, f"{part}.{name}")
            if found is not None:
                out[found] = value
        return out

    values = {f: _value_table(table, f"values.{f}") for f, table in by_field("values").items()}
    people = data.get("people")
    if people is not None:
        if not {"file", "key", "columns"} <= set(_object(people, "people")):
            raise MappingError("people: give file, key and columns")
        if not isinstance(people["file"], str) or not isinstance(people["key"], str):
            raise MappingError("people: file and key are text")
        _object(people["columns"], "people.columns")
    return Mapping(
        columns=columns,
        values=values,
        others=by_field("others"),
        defaults=by_field("defaults"),
        people_spec=people,
    )
