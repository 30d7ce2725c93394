"""The signed forms and revocation lists on the wire."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.models import example

CERTIFICATE_ID = "c7a1d2e3-f4a5-8b6c-8d7e-9f0a1b2c3d4e"
UVCI = "URN:UVCI:01:VN:7QKXN2AB4CDEFGHJKLMNPQRSTU#K"


DCC_DOCUMENT = {"uvci": UVCI, "dn": 2, "sd": 2, "qr": "HC1:6BF…"}


class DccDocument(BaseModel):
    model_config = example(DCC_DOCUMENT)
    uvci: str
    dn: int = Field(description="the dose number, as the EU DCC encodes it")
    sd: int = Field(description="the doses in the series, as the EU DCC encodes it")
    qr: str = Field(description="the QR code's text, `HC1:`…")


class SignedDcc(BaseModel):
    model_config = example(
        {
            "certificate_id": CERTIFICATE_ID,
            "version": 2,
            "uvci": [UVCI],
            "kid": "3lTmAZX19GQ=",
            "qr": "HC1:6BF…",
            "documents": [DCC_DOCUMENT],
        }
    )
    certificate_id: str
    version: int
    uvci: list[str] = Field(description="one EU DCC per dose, in dose order")
    kid: str = Field(description="the signing certificate's key id (base64)")
    qr: str = Field(description="the latest dose's EU DCC (`Accept: image/png`: its QR image)")
    documents: list[DccDocument]


class SignedShc(BaseModel):
    model_config = example(
        {"certificate_id": CERTIFICATE_ID, "version": 2, "jws": "eyJ6aXAiOiJERUYi…", "qr": ["shc:/5676…"]}
    )
    certificate_id: str
    version: int
    jws: str = Field(description="the SMART Health Card: a compact JWS")
    qr: list[str] = Field(
        description="its QR codes' texts, `shc:/`… (several when the card is long; `Accept: image/png` "
        "with `chunk`: one image)"
    )


class RevocationBatch(BaseModel):
    model_config = example(
        {
            "kid": "3lTmAZX19GQ=",
            "country": "VN",
            "hashType": "UCI",
            "expires": "2027-12-06T00:00:00+00:00",
            "hashes": ["qX0Cz2v4tVxc5C0R4mrfAg=="],
        }
    )
    kid: str
    country: str
    hashType: str = Field(description="UCI: SHA-256(UVCI); COUNTRYCODEUCI: SHA-256(country + UVCI)")
    expires: str = Field(description="when the last of these certificates expires anyway")
    hashes: list[str] = Field(description="the first 16 bytes of each hash, base64")


class RevocationList(BaseModel):
    model_config = example(
        {
            "kid": "9CYx0Gd0TTn5zwUFRBNRzAw0B2w5m4gqEWLvmXQmLwU",
            "method": "rid",
            "ctr": 1,
            "rids": ["MjHRYDl3nRg.1796428800"],
        }
    )
    kid: str
    method: str = Field(description="always `rid`")
    ctr: int = Field(description="how many revocations the list holds; it only grows")
    rids: list[str] = Field(
        description="`rid.timestamp`: cards of that rid issued before the time are revoked"
    )
