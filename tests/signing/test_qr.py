"""QR images of certificate texts: the level each specification asks for, the right segments,
and the same image for the same text."""

from __future__ import annotations

import io

import pytest
import segno
from PIL import Image

from signing import dcc, qr
from tests.signing.dcc_keys import make_signer
from tests.signing.test_dcc import EXP, IAT, the_hcert

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A SMART Health Card's numeric QR text and one chunk of a larger card (its digits are pairs
# each encoding a base64url character minus 45).
SHC = "shc:/" + "5676290952432060346029243740446031222959532654603460292540772804336028702864" * 6
SHC_CHUNK = "shc:/2/3/" + "5676290952432060346029243740446031222959532654603460292540772804336028702864" * 6


def _image(data: bytes) -> Image.Image:
    assert data.startswith(PNG_SIGNATURE)
    return Image.open(io.BytesIO(data))


def test_an_eu_dcc_is_one_alphanumeric_segment_at_level_q() -> None:
    text, _ = dcc.sign(the_hcert(), make_signer(), iss="VN", iat=IAT, exp=EXP)
    symbol = qr._symbol(text)
    assert symbol.error == "Q" and symbol.mode == "alphanumeric" and not symbol.is_micro
    image = _image(qr.png(text))
    modules = symbol.symbol_size(scale=1, border=0)[0]
    assert image.size == ((modules + 2 * qr.BORDER) * qr.SCALE,) * 2
    assert qr.png(text) == qr.png(text)


@pytest.mark.parametrize("text", [SHC, SHC_CHUNK])
def test_a_smart_health_card_is_byte_then_numeric_at_level_l(text: str) -> None:
    symbol = qr._symbol(text)
    assert symbol.error == "L" and not symbol.is_micro
    # Two segments, the digits numeric: smaller than the whole text in byte mode would be.
    assert symbol.version < segno.make(text, error="l", mode="byte", boost_error=False).version
    assert _image(qr.png(text)).size[0] > 0


def test_each_chunk_of_a_card_is_its_own_image_in_order() -> None:
    chunks = [SHC_CHUNK.replace("/2/3/", f"/{n}/3/") for n in (1, 2, 3)]
    images = qr.png_chunks(chunks)
    assert images == [qr.png(chunk) for chunk in chunks]
    assert len(set(images)) == 3
    with pytest.raises(ValueError, match="texts"):
        qr.png_chunks([])


@pytest.mark.parametrize("text", ["", "https://example.org", "shc:/12a4", "hc1:NCF"])
def test_another_text_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(ValueError, match="^text:"):
        qr.png(text)
