"""The orjson transcoder reads back what it wrote, as the library's own JSON transcoder does."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from store.transcoding import OrjsonTranscoder, _uuid


def library_transcoder() -> JSONTranscoder:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


def test_tagged_values_come_back_at_any_depth_and_the_bytes_match_the_library():
    ict = timezone(timedelta(hours=7))
    state = {
        "timestamp": datetime(2021, 8, 1, 9, 30, tzinfo=ict),
        "person_id": uuid4(),
        "actor": {"principal_id": "site:01-TYT-001", "role": "site"},
        "doses": [
            {"dose_id": uuid4(), "volume": Decimal("0.30"), "lots": ["FA1234", {"replaced": uuid4()}]},
            [uuid4(), "plain", 3, None],
        ],
        "note": "_type_ and _data_ as plain words",
        "nothing": {},
    }
    library, ours = library_transcoder(), OrjsonTranscoder()

    stored = ours.encode(state)

    assert stored == library.encode(state)
    assert ours.decode(stored) == state == library.decode(stored)
    assert ours.decode(ours.encode([state, state])) == [state, state]  # the same values twice
    dated = {"birth": [{"on": date(1985, 3, 14)}]}  # the library has no transcoding for dates
    assert ours.decode(ours.encode(dated)) == dated


def test_a_state_written_with_spaces_or_holding_the_tag_words_comes_back_whole():
    """The tags are counted in the stored text to stop the walk early: whatever else holds
    the words, and whatever separators wrote it, every tag is still found."""
    import json

    ids = [uuid4() for _ in range(3)]
    state = {
        "_type_": "a plain key",
        "claim": {"_type_": "x", "note": "_type_"},
        "timestamp": datetime(2021, 8, 1, tzinfo=UTC),
        "actor": {"id": ids[0]},
        "last": [ids[1], {"deep": ids[2]}],
    }
    ours = OrjsonTranscoder()
    assert ours.decode(ours.encode(state)) == state
    spaced = json.dumps(json.loads(ours.encode(state)), indent=2, separators=(" ,", " : ")).encode()
    assert ours.decode(spaced) == state == library_transcoder().decode(spaced)
    assert ours.decode(memoryview(ours.encode(state))) == state  # a driver may hand back a view
    assert ours.decode(ours.encode(state).decode()) == state  # and text is JSON too
    # Another writer may escape a key: its tags cannot be counted, and are all still found.
    escaped = (
        b'{"t":{"_type_":"uuid_hex","_data_":"' + ids[1].hex.encode() + b'"},'
        b'"a":{"\\u005ftype_":"uuid_hex","_data_":"' + ids[2].hex.encode() + b'"}}'
    )
    assert ours.decode(escaped) == {"t": ids[1], "a": ids[2]} == library_transcoder().decode(escaped)


tagged = st.one_of(
    st.uuids(), st.datetimes(timezones=st.just(UTC)), st.decimals(allow_nan=False, allow_infinity=False)
)
plain = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from(["_type_", "_data_", '"_type_"', "Lan"]),
)
states = st.recursive(
    st.one_of(tagged, plain),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(["_type_", "_data_", "a", "b", "timestamp", "dose_id"]), children, max_size=4
        ),
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["timestamp", "dose_id", "actor", "source", "_type_"]), states, max_size=5
    )
)
def test_any_state_comes_back_as_the_library_reads_it(state):
    assume(not _looks_like_a_tag(state))  # a dict of exactly _type_ and _data_ is a tag, by design
    stored = OrjsonTranscoder().encode(state)
    assert OrjsonTranscoder().decode(stored) == library_transcoder().decode(stored) == state


def _looks_like_a_tag(value) -> bool:
    if isinstance(value, dict):
        return set(value) == {"_type_", "_data_"} or any(_looks_like_a_tag(v) for v in value.values())
    if isinstance(value, list):
        return any(_looks_like_a_tag(v) for v in value)
    return False


@given(st.uuids() | st.integers(0, 2**128 - 1).map(lambda n: UUID(int=n)))
def test_a_stored_uuid_reads_back_as_the_uuid_it_was(value):
    read = _uuid(value.hex)
    assert (read, str(read), hash(read), read.is_safe, read.version, read.bytes) == (
        value,
        str(value),
        hash(value),
        value.is_safe,
        value.version,
        value.bytes,
    )


def test_a_malformed_stored_uuid_is_refused_as_uuid_refuses_it():
    for text in ("-" + "f" * 31, "0x" + "g" * 30, "abc", "f" * 33):
        with pytest.raises(ValueError):
            _uuid(text)
    assert _uuid("{" + "a" * 32 + "}") == UUID("a" * 32)  # what UUID accepts, it still does
