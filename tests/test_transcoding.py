"""The orjson transcoder reads back what it wrote, as the library's own JSON transcoder does."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import uuid4

from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex

from ledger.transcoding import OrjsonTranscoder


def library_transcoder() -> JSONTranscoder:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


def test_tagged_values_come_back_at_any_depth_and_the_bytes_match_the_library():
    ict = timezone(timedelta(hours=7))
    state = {"timestamp": datetime(2021, 8, 1, 9, 30, tzinfo=ict), "person_id": uuid4(),
             "actor": {"principal_id": "site:01-TYT-001", "role": "site"},
             "doses": [{"dose_id": uuid4(), "volume": Decimal("0.30"),
                        "lots": ["FA1234", {"replaced": uuid4()}]}, [uuid4(), "plain", 3, None]],
             "note": "_type_ and _data_ as plain words", "nothing": {}}
    library, ours = library_transcoder(), OrjsonTranscoder()

    stored = ours.encode(state)

    assert stored == library.encode(state)
    assert ours.decode(stored) == state == library.decode(stored)
    assert ours.decode(ours.encode([state, state])) == [state, state]  # the same values twice
    dated = {"birth": [{"on": date(1985, 3, 14)}]}  # the library has no transcoding for dates
    assert ours.decode(ours.encode(dated)) == dated
