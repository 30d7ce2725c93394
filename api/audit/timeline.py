"""A person's history (replay.history) as the rows of the auditor's page: one row per stored
event, what it changed in words, who caused it and through what, and the state after it with
the changed parts marked. Shaping only; the page template lays it out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ledger.catalog import vaccine_catalog
from ledger.rules import ICT

DOSE_COLUMNS = ("dose_number", "vaccine", "administered_at", "lot", "site_id")
LABELS = {
    "dose_number": "dose number",
    "administered_at": "given",
    "site_id": "site",
    "reported_dose_number": "reported number",
    "full_name": "name",
    "birth_date": "birth date",
    "national_id": "national id",
    "voided": "voided",
    "booster": "booster",
}


def timeline(history: dict[str, Any], principal_name: Callable[[str], str | None]) -> list[dict[str, Any]]:
    """`principal_name(principal_id)`: a token's name (e.g. the site's), if it has one."""
    rows = []
    for event in history["events"]:
        data = event.get("data") or {}
        changes = event.get("changes") or {}
        actor = event.get("actor") or {}
        rows.append(
            {
                "version": event["version"],
                "position": event["position"],
                "type": event["type"],
                "title": words(event["type"]),
                "recorded_at": local_time(event.get("recorded_at")),
                "actor": {**actor, "name": principal_name(actor["principal_id"]) if actor else None},
                "source": [(words(k), v) for k, v in (event.get("source") or {}).items()],
                "reason": data.get("reason"),
                "problem": event.get("problem"),
                "changes": described_changes(changes, event.get("state")),
                "state": marked_state(event.get("state"), changes),
            }
        )
    return rows


def described_changes(changes: dict[str, Any], state: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each change as {what, from, to}: details, doses added/removed/changed, status, merges."""
    numbers = {d["dose_id"]: d for d in (state or {}).get("doses", [])}
    described = [
        {"what": LABELS.get(k, k), "from": v["from"], "to": v["to"]}
        for k, v in changes.get("details", {}).items()
    ]
    doses = changes.get("doses") or {}
    for dose in doses.get("added", []):
        described.append({"what": "dose added", "from": None, "to": dose_summary(dose)})
    for dose in doses.get("removed", []):
        described.append({"what": "dose removed", "from": dose_summary(dose), "to": None})
    for change in doses.get("changed", []):
        fields = dict(change["fields"])
        dose = numbers.get(change["dose_id"], {"dose_id": change["dose_id"]})
        if "dose_number" in fields:  # named as it was known before this event renumbered it
            dose = {**dose, "dose_number": fields["dose_number"]["from"]}
        if fields.get("voided", {}).get("to") is True:  # a void un-numbers it: one line says both
            fields.pop("dose_number", None)
            fields["voided"] = {"from": "valid", "to": "voided"}
        for field, value in fields.items():
            described.append(
                {
                    "what": f"{dose_label(dose)}: {LABELS.get(field, field)}",
                    "from": value["from"],
                    "to": value["to"],
                }
            )
    if changes.get("status"):
        described.append({"what": "status", **changes["status"]})
    if changes.get("merged_into"):
        described.append({"what": "merged into", **changes["merged_into"]})
    for request in changes.get("corrections", []):
        for field, value in request["fields"].items():
            described.append(
                {
                    "what": f"correction request {request['request_id'][:8]}: {words(field)}",
                    "from": value["from"],
                    "to": value["to"],
                }
            )
    return described


def marked_state(state: dict[str, Any] | None, changes: dict[str, Any]) -> dict[str, Any] | None:
    """The state after an event, each dose with the set of its cells this event changed."""
    if state is None:
        return None
    doses = changes.get("doses") or {}
    added = {d["dose_id"] for d in doses.get("added", [])}
    changed = {c["dose_id"]: set(c["fields"]) for c in doses.get("changed", [])}
    return {
        "status": state["status"],
        "status_changed": bool(changes.get("status")),
        "merged_into": state.get("merged_into"),
        "doses": [
            {
                **dose,
                "vaccine_name": vaccine_name(dose["vaccine"]),
                "added": dose["dose_id"] in added,
                "changed": changed.get(dose["dose_id"], set()),
            }
            for dose in state["doses"]
        ],
        "flags": [flag_text(f, state["doses"]) for f in state.get("flags", [])],
    }


def flag_text(flag: dict[str, Any], doses: list[dict[str, Any]]) -> str:
    """'interval-too-short on dose 2 (days 14, minimum 21)'."""
    dose = next((d for d in doses if d["dose_id"] == flag.get("dose_id")), None)
    extra = ", ".join(f"{words(k)} {v}" for k, v in flag.items() if k not in ("kind", "dose_id"))
    return (
        f"{flag.get('kind')}" + (f" on {dose_label(dose)}" if dose else "") + (f" ({extra})" if extra else "")
    )


def dose_label(dose: dict[str, Any]) -> str:
    number = dose.get("dose_number")
    return f"dose {number}" if number else f"dose {dose['dose_id'][:8]}"


def dose_summary(dose: dict[str, Any]) -> str:
    return (
        f"{dose_label(dose)}: {vaccine_name(dose['vaccine'])}, given {dose['administered_at']}, "
        f"lot {dose.get('lot') or '—'}, site {dose['site_id']}"
    )


def vaccine_name(code: str) -> str:
    try:
        return vaccine_catalog()[code].name
    except KeyError:  # a code no longer in the catalog still shows as stored
        return code


def words(name: str) -> str:
    """'DoseAmended' / 'site_record_id' → 'Dose amended' / 'site record id'."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).replace("_", " ")
    return spaced[:1] + spaced[1:].lower()


def local_time(iso: str | None) -> str:
    """A recorded time in Vietnam time, to the second."""
    if not iso:
        return "—"
    return datetime.fromisoformat(iso).astimezone(ICT).strftime("%Y-%m-%d %H:%M:%S ICT")
