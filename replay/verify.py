"""Does everything that claims to know a person agree with the person's stored events?

Compared, for one person or the whole store:
- integrity: the digest chain of every stream (replay.integrity);
- the anchor (given the anchor folder): the person's stream, or every stream, against the
  latest signed anchor: deleted streams, removed last events, re-chained streams
  (replay.anchoring);
- the fold: every stored event decodes and applies in sequence;
- the ledger (one person only): the application's own loaded state, cache included, equals a
  fresh fold of the stored rows;
- the site-record key rows (whole store only): each against its dose's event (replay.key_rows);
- the people's key rows (whole store only): national ids and identity keys against the
  people's details (replay.person_key_rows);
- the certificate view, when given `views` (projections.open_views(url)): its status, and each
  dose's presence and number (plus vaccine, date, lot, site and booster when the view shows
  them), against the fresh fold.

The view may lag the store: a caller that just wrote waits for the view to reach
`head_position` first. The person's contribution to the statistics is not compared yet (its
interface is the projections issue's to define).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from uuid import UUID

from replay.anchoring import AnchorCheck, anchor_summary, latest_anchor
from replay.fold import Decoded, decode, fold, is_person_stream, person_state, read_person
from replay.history import compare_states
from replay.integrity import Finding, KeyedSince, check_chain
from replay.key_rows import KeyRowCheck
from replay.person_key_rows import PersonKeyRowCheck
from store.anchors import AnchorFolder
from store.event_store import by_stream
from store.secrets import Secrets

# Dose fields compared with the certificate view when the view shows them.
DOSE_FIELDS = ("vaccine", "administered_at", "lot", "site_id", "booster")


def verify(
    ledger: Any, person_id: UUID | str, views: Any = None, anchors: AnchorFolder | None = None
) -> dict[str, Any]:
    """One person; given the anchor folder, their stream against the latest anchor too (its
    last events removed or its chain recomputed since; the anchor's own problems)."""
    pid, records = read_person(ledger, person_id)
    decoded = decode(ledger.mapper, records)
    state, differences = _check_person(decoded, check_chain(decoded, ledger.mapper), views, pid)
    differences += _against_ledger(ledger, pid, state)
    anchor = None
    if anchors is not None:
        anchor, problems = latest_anchor(anchors, Secrets.from_env(ledger.env))
        differences += [
            {k: v for k, v in p.items() if k not in ("stream_id", "stream_type")} for p in problems
        ]
        if anchor is not None:
            differences += AnchorCheck(anchor, ledger.mapper).stream(records)
    checked = ["integrity", "fold", "ledger"] + (["certificate"] if views is not None else [])
    return {
        "person_id": str(pid),
        "consistent": not differences,
        "version": records[-1].originator_version,
        "head_position": max((r.position or 0) for r in records),
        "checked": checked + (["anchor"] if anchor is not None else []),
        "differences": differences,
    }


def verify_all(
    ledger: Any,
    views: Any = None,
    progress: Callable[[int, int], None] | None = None,
    anchors: AnchorFolder | None = None,
) -> dict[str, Any]:
    """Every stream of the store: its chain; for each person also the fold and the certificate;
    given the anchor folder, every stream against the latest anchor (replay.anchoring).

    `progress(events_done, events_total)` is called after each stream.
    """
    started = time.perf_counter()
    anchor, differences = (
        (None, []) if anchors is None else latest_anchor(anchors, Secrets.from_env(ledger.env))
    )
    against = None if anchor is None else AnchorCheck(anchor, ledger.mapper)
    notes = []
    if anchors is not None and anchor is None and not differences:
        notes.append(
            f"no anchor in {anchors.directory}: deleted streams, removed last events and "
            "re-chained streams cannot be told (run `doseledger anchor`)"
        )
    total = ledger.recorder.count_notifications()
    done, people = 0, 0
    streams: Counter[str] = Counter()
    keyed_since = KeyedSince()
    key_rows = KeyRowCheck(ledger.recorder.site_records)
    person_keys = PersonKeyRowCheck(ledger.recorder, ledger.ids)
    for records in by_stream(ledger.recorder.scan_streams()):
        decoded = decode(ledger.mapper, records)
        findings = check_chain(decoded, ledger.mapper)
        stream_type = _stream_type(records[0].topic)
        keyed_since.stream(decoded, stream_type)
        streams[stream_type] += 1
        if is_person_stream(records):
            people += 1
            key_rows.stream(decoded)
            state, found = _check_person(decoded, findings, views, records[0].originator_id)
            person_keys.person(records[0].originator_id, state)
        else:
            found = [_integrity(f) for f in findings]
        if against is not None:
            found += against.stream(records)
        differences += [
            {"stream_id": str(records[0].originator_id), "stream_type": stream_type, **d} for d in found
        ]
        done += len(records)
        if progress is not None:
            progress(done, total)
    if against is not None:
        differences += against.finish()
    # A stream whose events were removed or changed is reported as such; its rows' differences
    # follow from it and would only repeat it.
    explained = {d.get("stream_id") for d in differences}
    differences += [d for d in key_rows.finish() if d["stream_id"] not in explained]
    differences += [d for d in person_keys.finish() if d["stream_id"] not in explained]
    already = {(d["stream_id"], d.get("finding"), d.get("version")) for d in differences}
    for stream, stream_type, finding in keyed_since.findings():
        if (str(stream), finding.kind, finding.version) not in already:  # the stream's own chain said so
            differences.append({"stream_id": str(stream), "stream_type": stream_type, **_integrity(finding)})
    checked = ["integrity", "fold", "key_rows", "person_key_rows"] + (
        ["certificate"] if views is not None else []
    )
    return {
        "consistent": not differences,
        "streams": sum(streams.values()),
        "events": done,
        "people": people,
        "by_type": dict(streams),
        "checked": checked + (["anchor"] if anchor is not None else []),
        "anchor": None if anchor is None else anchor_summary(anchor),
        "notes": notes,
        "differences": differences,
        "elapsed_s": time.perf_counter() - started,
    }


def compare_certificate(state: dict[str, Any], certificate: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Differences between a fresh fold's state and the certificate view's document."""
    merged_into = state["merged_into"]
    if certificate is None:
        if merged_into is not None:
            return []
        return [
            _cert(None, "the certificate view has no certificate for this person", expected=state["status"])
        ]
    if merged_into is not None:
        # A merged duplicate: only whether the view knows where its doses went is compared.
        found = certificate.get("merged_into", merged_into)
        if str(found) != merged_into:
            return [_cert("merged_into", "the view names another survivor", merged_into, found)]
        return []
    differences = []
    if certificate.get("status") != state["status"]:
        differences.append(_cert("status", "the status differs", state["status"], certificate.get("status")))
    expected = {d["dose_id"]: d for d in state["doses"] if not d["voided"]}
    shown = {str(d.get("dose_id")): d for d in certificate.get("doses") or []}
    for dose_id, dose in expected.items():
        if dose_id not in shown:
            differences.append(
                _cert(
                    "doses",
                    "a valid dose is missing from the certificate",
                    dose["dose_number"],
                    None,
                    dose_id,
                )
            )
            continue
        on_view = shown[dose_id]
        if on_view.get("dose_number") != dose["dose_number"]:
            differences.append(
                _cert(
                    "dose_number",
                    "the dose number differs",
                    dose["dose_number"],
                    on_view.get("dose_number"),
                    dose_id,
                )
            )
        for name in DOSE_FIELDS:
            if name in on_view and on_view[name] != dose[name]:
                differences.append(
                    _cert(name, f"the dose's {name} differs", dose[name], on_view[name], dose_id)
                )
    for dose_id in shown.keys() - expected.keys():
        differences.append(
            _cert(
                "doses",
                "the certificate shows a dose the events do not (voided, or never recorded)",
                None,
                shown[dose_id].get("dose_number"),
                dose_id,
            )
        )
    return differences


def _check_person(
    decoded: list[Decoded], findings: list[Finding], views: Any, person_id: UUID
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    differences = [_integrity(f) for f in findings]
    person = None
    for step in fold(decoded):
        person = step.person
        if step.problem and step.event is not None:  # unreadable rows are integrity findings
            differences.append(
                {
                    "kind": "fold",
                    "version": step.record.originator_version,
                    "position": step.record.position,
                    "detail": step.problem,
                }
            )
    state = person_state(person)
    if views is not None and state is not None:
        differences += compare_certificate(state, views.certificates.certificate(person_id))
    return state, differences


def _against_ledger(ledger: Any, person_id: UUID, state: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The application's loaded person (its cache included) against the fresh fold."""
    try:
        loaded = person_state(ledger.person(person_id))
    except Exception as e:  # noqa: BLE001 - the ledger failing to load the person is itself the difference
        return [{"kind": "ledger", "detail": f"the ledger cannot load this person: {type(e).__name__}: {e}"}]
    if loaded == state:
        return []
    return [
        {
            "kind": "ledger",
            "detail": "the ledger's loaded state differs from a fresh fold of the stored events",
            "changes": compare_states(state, loaded),
        }
    ]


def _integrity(finding: Finding) -> dict[str, Any]:
    return {
        "kind": "integrity",
        "finding": finding.kind,
        "version": finding.version,
        "position": finding.position,
        "detail": finding.detail,
    }


def _cert(
    field: str | None, detail: str, expected: Any = None, found: Any = None, dose_id: str | None = None
) -> dict[str, Any]:
    difference = {
        "kind": "certificate",
        "field": field,
        "detail": detail,
        "expected": expected,
        "found": found,
    }
    if dose_id is not None:
        difference["dose_id"] = dose_id
    return difference


def _stream_type(topic: str) -> str:
    """'ledger.person:Person.Registered' → 'Person'."""
    return topic.split(":", 1)[-1].split(".", 1)[0]
