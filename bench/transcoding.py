"""orjson vs the library's JSON transcoder on a stored DoseRecorded event (µs per event)."""

from __future__ import annotations

import tempfile
import timeit

from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex

from ledger.values import Actor
from store.transcoding import OrjsonTranscoder
from usecases.application import DoseLedger


def measure(repeats: int = 5, number: int = 20000) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": f"sqlite:///{tmp}/t.db"})
        pid = ledger.register_person(
            {
                "full_name": "Nguyễn Thị Lan",
                "birth_date": "1985-03-14",
                "province": "01",
                "national_id": "001185012345",
            }
        ).person_id
        ledger.record_dose(
            site_id="HN-001",
            site_record_id="1",
            vaccine="Pfizer",
            lot="FA1234",
            administered_at="2021-08-01",
            person_id=pid,
            actor=Actor("bench", "site"),
        )
        state = list(ledger.events.get(pid))[-1].__dict__.copy()
        ledger.close()
    json_t = JSONTranscoder()  # configured as eventsourcing's Application configures it
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        json_t.register(transcoding)
    stored = json_t.encode(state)
    assert OrjsonTranscoder().encode(state) == stored, "the two must write the same bytes"
    result = {}
    for name, t in (("json", json_t), ("orjson", OrjsonTranscoder())):
        for op, fn in (("encode", lambda t=t: t.encode(state)), ("decode", lambda t=t: t.decode(stored))):
            best = sorted(timeit.repeat(fn, number=number, repeat=repeats))
            result[f"{name}_{op}_us"] = best[len(best) // 2] / number * 1e6
    return result


if __name__ == "__main__":
    for key, value in measure().items():
        print(f"{key:>18}: {value:.2f}")
