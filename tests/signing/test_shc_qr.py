"""The `shc:/` numeric QR text: one QR when the JWS fits, balanced numbered chunks when not, and
a reader that takes the chunks in any order and refuses missing, duplicate or malformed ones."""

from __future__ import annotations

import random

import pytest
import segno
from hypothesis import given
from hypothesis import strategies as st

from signing.shc import Unreadable, jws_from_qr, qr_chunks, qr_code

JWS_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


def test_each_character_is_two_digits_of_its_code_minus_45() -> None:
    # The spec's own example: 'X' is 88, 88 - 45 = 43.
    assert qr_chunks("X") == ["shc:/43"]
    assert qr_chunks("-.z") == ["shc:/000177"]
    assert jws_from_qr(["shc:/000177"]) == "-.z"


@pytest.mark.parametrize(
    ("length", "sizes"),
    [
        (1195, [1195]),
        (1196, [598, 598]),
        (1200, [600, 600]),
        (2382, [1191, 1191]),
        (2383, [795, 795, 793]),
        (3285, [1095, 1095, 1095]),
    ],
)
def test_a_long_jws_is_split_into_the_fewest_balanced_chunks(length: int, sizes: list[int]) -> None:
    jws = "".join(random.Random(length).choice(JWS_CHARS) for _ in range(length))
    chunks = qr_chunks(jws)
    assert [len(c.split("/")[-1]) // 2 for c in chunks] == sizes
    if len(sizes) == 1:
        assert chunks[0].startswith("shc:/") and chunks[0].count("/") == 1
    else:
        assert [c.split("/")[1:3] for c in chunks] == [
            [str(i), str(len(sizes))] for i in range(1, len(sizes) + 1)
        ]
    assert jws_from_qr(chunks) == jws


@given(
    st.text(alphabet=JWS_CHARS, min_size=1, max_size=6000),
    st.randoms(use_true_random=False),
)
def test_any_jws_comes_back_from_its_chunks_in_any_order(jws: str, shuffler: random.Random) -> None:
    chunks = qr_chunks(jws)
    sizes = [len(c.split("/")[-1]) // 2 for c in chunks]
    assert max(sizes) <= (1195 if len(chunks) == 1 else 1191)
    assert max(sizes) - min(sizes) <= len(chunks)  # balanced: the last one short by a little
    shuffler.shuffle(chunks)
    assert jws_from_qr(chunks) == jws


def test_only_a_compact_jws_is_encoded() -> None:
    for bad in ["", "a b", "a=b", "ünïcode"]:
        with pytest.raises(ValueError, match="jws"):
            qr_chunks(bad)


def three_chunks() -> list[str]:
    return qr_chunks("".join(random.Random(1).choice(JWS_CHARS) for _ in range(3000)))


@pytest.mark.parametrize(
    ("chunks", "reason"),
    [
        ([], "none given"),
        (three_chunks()[:2], r"missing chunk\(s\) \[3\] of 3"),
        (three_chunks()[1:], r"missing chunk\(s\) \[1\] of 3"),
        ([*three_chunks(), three_chunks()[0]], "duplicate chunk 1 of 3"),
        ([three_chunks()[0], three_chunks()[1].replace("/2/3/", "/2/4/"), three_chunks()[2]], "disagree"),
        ([three_chunks()[0].replace("/1/3/", "/4/3/")], "out of range"),
        ([three_chunks()[0].replace("/1/3/", "/0/3/")], "out of range"),
        (["shc:/43", "shc:/43"], "single-QR card given with other chunks"),
        (["shc:/43", *three_chunks()], "single-QR card given with other chunks"),
        (["HC1:6BFOXN"], "not 'shc:/' followed by digits"),
        (["shc:/"], "no digits"),
        (["shc:/435"], "odd number of digits"),
        (["shc:/99"], "not JWS characters"),
        (["shc:/4a"], "not 'shc:/' followed by digits"),
        (["shc:/٤٣"], "not 'shc:/' followed by digits"),  # Arabic-Indic digits are not QR digits
        ([b"shc:/43"], "not text"),
    ],
)
def test_bad_chunks_are_unreadable_with_the_reason(chunks: list[str], reason: str) -> None:
    with pytest.raises(Unreadable, match=reason):
        jws_from_qr(chunks)


def test_a_single_text_is_not_taken_for_a_list_of_characters() -> None:
    with pytest.raises(Unreadable, match="a list"):
        jws_from_qr("shc:/43")  # type: ignore[arg-type]


def test_what_a_scanner_adds_is_tolerated() -> None:
    assert jws_from_qr(["SHC:/43\n"]) == "X"
    assert jws_from_qr(["  shc:/43  "]) == "X"


@pytest.mark.parametrize("length", [1, 800, 1195, 1196, 2383, 3285])
def test_each_chunk_fits_a_version_22_qr(length: int) -> None:
    jws = "".join(random.Random(length).choice(JWS_CHARS) for _ in range(length))
    versions = [qr_code(chunk).version for chunk in qr_chunks(jws)]
    assert max(versions) <= 22
    if length == 1195:
        assert versions == [22]  # the spec's limit is exactly what version 22 at L holds


def test_the_digits_need_a_numeric_segment_to_fit() -> None:
    chunk = qr_chunks("".join(random.Random(3).choice(JWS_CHARS) for _ in range(1195)))[0]
    assert qr_code(chunk).version == 22
    assert segno.make(chunk, error="L", micro=False).version > 22  # one text: byte mode throughout


def test_only_a_chunk_makes_a_qr_code() -> None:
    for bad in ["HC1:123", "shc:/12a", "shc:/", "shc:/٤٣"]:
        with pytest.raises(ValueError, match="chunk"):
            qr_code(bad)
