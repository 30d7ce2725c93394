"""`decode` reads any text a camera hands it: a certificate, or Unreadable naming the step,
never any other exception (random text, truncated and bit-flipped real payloads)."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime

import base45
import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signing import cose, dcc
from tests.signing.dcc_keys import make_signer
from tests.testdata import TESTDATA

VECTORS = TESTDATA / "eu-dcc" / "dgc-testdata"
# A few real payloads of each kind (vaccination, test, recovery; EC and RSA signers).
SAMPLES = [
    "AT/2DCode/raw/1.json",
    "DE/2DCode/raw/2.json",
    "IS/2DCode/raw/3.json",
    "PL/1.3.0/2DCode/raw/10.json",
]
REAL = [json.loads((VECTORS / path).read_text(encoding="utf-8"))["PREFIX"] for path in SAMPLES]
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _reads_or_says_why(text: str) -> None:
    try:
        decoded = dcc.decode(text)
    except dcc.Unreadable as e:
        assert e.reason and e.step in {"prefix", "base45", "zlib", "cose", "claims"}
    else:
        assert isinstance(decoded.hcert, dict)


def test_the_samples_read() -> None:
    for text in REAL:
        assert dcc.decode(text).hcert["ver"]


@PROPERTY
@given(st.text())
def test_random_text(text: str) -> None:
    _reads_or_says_why(text)
    _reads_or_says_why("HC1:" + text)


@PROPERTY
@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"))
def test_random_base45(text: str) -> None:
    _reads_or_says_why("HC1:" + text)


@PROPERTY
@given(st.binary(max_size=512))
def test_random_bytes_compressed_or_not(data: bytes) -> None:
    _reads_or_says_why("HC1:" + base45.b45encode(data).decode())
    _reads_or_says_why("HC1:" + base45.b45encode(zlib.compress(data)).decode())


@PROPERTY
@given(st.sampled_from(REAL), st.data())
def test_truncated_real_payloads(text: str, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    _reads_or_says_why(text[:cut])


@PROPERTY
@given(st.sampled_from(REAL), st.data())
def test_bit_flipped_real_payloads(text: str, data: st.DataObject) -> None:
    """Flipped after the base45 and the zlib layers too, so that the flips reach the CBOR."""
    raw = zlib.decompress(base45.b45decode(text[4:]))
    flips = data.draw(st.lists(st.integers(min_value=0, max_value=len(raw) * 8 - 1), min_size=1, max_size=4))
    changed = bytearray(raw)
    for bit in flips:
        changed[bit // 8] ^= 1 << (bit % 8)
    _reads_or_says_why("HC1:" + base45.b45encode(zlib.compress(bytes(changed))).decode())
    compressed = bytearray(base45.b45decode(text[4:]))
    compressed[flips[0] % len(compressed)] ^= 0x10
    _reads_or_says_why("HC1:" + base45.b45encode(bytes(compressed)).decode())


@PROPERTY
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.binary(max_size=16) | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=5)
            | st.dictionaries(st.integers() | st.text(max_size=4), inner, max_size=5)
        ),
        max_leaves=20,
    )
)
def test_any_cbor_item_as_the_cose_or_its_payload(item: object) -> None:
    encoded = cbor2.dumps(item)
    for raw in (
        encoded,
        cbor2.dumps(cbor2.CBORTag(18, [b"", {}, encoded, b""])),
        cbor2.dumps(cbor2.CBORTag(18, item)),
    ):
        _reads_or_says_why("HC1:" + base45.b45encode(zlib.compress(raw)).decode())


@pytest.mark.parametrize(
    ("text", "step"),
    [
        ("", "prefix"),
        ("HC2:NCF", "prefix"),
        ("HC1:a", "base45"),
        ("HC1:" + base45.b45encode(b"not zlib").decode(), "zlib"),
        ("HC1:" + base45.b45encode(zlib.compress(b"\xff\xff")).decode(), "cose"),
        ("HC1:" + base45.b45encode(zlib.compress(cbor2.dumps([1, 2]))).decode(), "cose"),
        (
            "HC1:"
            + base45.b45encode(zlib.compress(cbor2.dumps(cbor2.CBORTag(98, [b"", {}, b"", b""])))).decode(),
            "cose",
        ),
        (
            "HC1:"
            + base45.b45encode(zlib.compress(cbor2.dumps([b"", {}, cbor2.dumps({1: "VN"}), b""]))).decode(),
            "claims",
        ),
        ("HC1:" + base45.b45encode(zlib.compress(zlib.compress(b"\0" * 200_000))).decode(), "cose"),
        ("HC1:" + base45.b45encode(zlib.compress(b"\0" * 200_000)).decode(), "zlib"),
    ],
)
def test_each_step_is_named(text: str, step: str) -> None:
    with pytest.raises(dcc.Unreadable) as caught:
        dcc.decode(text)
    assert caught.value.step == step


def test_an_untagged_sign1_reads() -> None:
    raw = zlib.decompress(base45.b45decode(REAL[0][4:]))
    untagged = cbor2.dumps(list(cbor2.loads(raw).value))
    decoded = dcc.decode("HC1:" + base45.b45encode(zlib.compress(untagged)).decode())
    assert decoded.hcert == dcc.decode(REAL[0]).hcert


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4) | st.integers(), inner, max_size=4)
    ),
    max_leaves=25,
)


@PROPERTY
@given(
    st.dictionaries(st.sampled_from(["ver", "nam", "dob", "v", "t", "r", "x"]), JSONISH, max_size=6),
    st.one_of(st.integers(), st.floats(), st.text(max_size=4), st.none()),
    st.one_of(st.integers(), st.floats(), st.none()),
)
def test_verify_answers_any_signed_payload_with_a_verdict(payload: dict, alg: object, exp: object) -> None:
    """Signed by a trusted key, so every check runs on whatever the payload and claims hold."""
    signer = make_signer()
    protected = cose.canonical({1: alg if alg is not None else -7, 4: signer.kid})
    claims = cose.canonical({1: "VN", 4: exp, 6: 0, -260: {1: payload}})
    message = cose.Sign1(protected, {}, claims, signer.sign(cose.sig_structure(protected, claims)))
    text = "HC1:" + base45.b45encode(zlib.compress(cose.encode(message))).decode()
    verdict = dcc.verify(text, signer.trust(), at=datetime(2026, 6, 1, tzinfo=UTC))
    assert verdict.valid is (verdict.reasons == [])
