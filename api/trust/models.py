"""The trust list and the JWKS on the wire: public keys only, in the shapes verifiers expect."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.models import example

DSC = {
    "kid": "5L3p96oqd3w=",
    "country": "VN",
    "certificateType": "DSC",
    "thumbprint": "3f1a0c6e9b4d2a7f8e5c1b0d9a8f7e6d5c4b3a291807f6e5d4c3b2a19080706f",
    "rawData": "MIIBvTCCAWOgAwIBAgIU...",
    "notBefore": "2026-12-06T00:17:35Z",
    "notAfter": "2028-12-05T00:17:35Z",
    "timestamp": "2026-12-06T00:17:35Z",
}
JWK = {
    "kty": "EC",
    "crv": "P-256",
    "x": "ACL-FFNObj3pMhWXZgU2FRdz9mjsiEM3E67CJqAkTZU",
    "y": "1if0qAftAL-8et8NhYwgUsElatNeGFDcOCGE_4BGLnU",
    "kid": "lh0a5ZYBelAjSXB0ke6Sc1p7IA88ZA7b3h0BS2DkR-E",
    "use": "sig",
    "alg": "ES256",
}


class DscEntry(BaseModel):
    """A document signer certificate as the EU DCC gateway lists it (its names, in camelCase)."""

    model_config = example(DSC)
    kid: str = Field(description="base64 of the first 8 bytes of the SHA-256 of the certificate's DER")
    country: str = Field(description="ISO 3166 two-letter code")
    certificateType: str = Field(description="always DSC here")
    thumbprint: str = Field(description="hex SHA-256 of the certificate's DER")
    rawData: str = Field(description="the certificate, base64 DER")
    notBefore: str
    notAfter: str
    timestamp: str = Field(description="when the certificate was made")


class Jwk(BaseModel):
    """A SMART Health Cards issuer's public key."""

    model_config = example(JWK)
    kty: str
    crv: str
    x: str
    y: str
    kid: str = Field(description="the RFC 7638 JWK thumbprint")
    use: str
    alg: str


class Jwks(BaseModel):
    model_config = example({"keys": [JWK]})
    keys: list[Jwk]
