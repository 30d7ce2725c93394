"""What a verifier sends and what it gets back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from api.models import example

MAX_TEXT = 16_384  # a DCC is ~600 characters, a 3-part SHC ~3,600: room, but a bound


class VerifyRequest(BaseModel):
    model_config = example(
        {
            "qr": "HC1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH-R6IOOK.IR9B+9G4G50PHZF0AT4V22F/8X*G3M9JUPY0BX/KR96R/S09T./0LWTKD33236J3TA3M*4VV2 73-E3GG396B-43O058YIB73A*G3W19UEBY5:PI0EGSP4*2DN43U*0CEBQ/GXQFY73CIBC:G 7376BXBJBAJ UNFMJCRN0H3PQN*E33H3OA70M3FMJIJN523.K5QZ4A+2XEN QT QTHC31M3+E32R44$28A9H0D3ZCL4JMYAZ+S-A5$XKX6T2YC 35H/ITX8GL2-LH/CJTK96L6SR9MU9RFGJA6Q3QR$P2OIC0JVLA8J3ET3:H3A+2+33U SAAUOT3TPTO4UBZIC0JKQTL*QDKBO.AI9BVYTOCFOPS4IJCOT0$89NT2V457U8+9W2KQ-7LF9-DF07U$B97JJ1D7WKP/HLIJLRKF1MFHJP7NVDEBU1J*Z222E.GJF67Z 2FNLZPTH47ZMO8/SW5"
        },
        forbid_extra=True,
    )

    qr: str | list[str] = Field(
        description="the scanned text: `HC1:…`, or `shc:/…` (a multi-part card: its chunks as a list, "
        "or one per line)",
        max_length=MAX_TEXT,
    )
    at: datetime | None = Field(
        None, description="the clock to check validity at, with a time zone (default: now)"
    )
    trust_list: list[dict[str, Any]] | None = Field(
        None,
        description="DSCs to trust instead of this deployment's, in the shape of `GET /v1/trust-list` "
        "(`kid`, `rawData`: base64 DER)",
        max_length=1000,
    )
    jwks: dict[str, Any] | None = Field(
        None, description="a SMART Health Cards issuer's JWKS to trust instead (needs `issuer`)"
    )
    issuer: str | None = Field(
        None, description="the issuer URL (`iss`) the `jwks` belongs to", max_length=2048
    )


class VerifyAnswer(BaseModel):
    model_config = example(
        {
            "format": "dcc",
            "valid": False,
            "revoked": True,
            "expired": False,
            "reasons": ["revoked by its issuer: amended (superseded by a later version)"],
            "payload": {
                "ver": "1.3.0",
                "nam": {"fn": "Nguyễn", "fnt": "NGUYEN"},
                "dob": "1985-03-14",
                "v": [],
            },
            "kid": "5L3p96oqd3w=",
        }
    )
    format: str = Field(description="`dcc`, `shc` or `unknown`")
    valid: bool = Field(description="signed by a trusted key, within its validity, not revoked, schema-valid")
    revoked: bool
    expired: bool
    reasons: list[str] = Field(description="every reason it is not valid, in plain words")
    payload: dict[str, Any] | None = Field(
        description="what it certifies (the DCC's hcert, the SHC's credential)"
    )
    kid: str | None = Field(description="the key it names: base64 (DCC) or the JWK thumbprint (SHC)")
