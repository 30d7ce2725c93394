"""A certificate version's signed forms: signed once, assembled again at every read.

`sign_version` signs one EU DCC per dose and one SMART Health Card for a version and returns
what its `Issuance.Issued` event records (ledger/issuance.py): per form the key id, the claims
that are not the certified content (issuer, times, UVCI, revocation id) and the signature.
Nothing personal: the name and birth date stay in the certificates view.

`assemble_version` rebuilds the QR texts from the certified content and those entries, byte
for byte the texts that were signed (both encoders are deterministic), so the store never holds
a QR, which would hold the name.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from ledger.certification import Certified, shc_rid, uvci
from signing import dcc, shc
from signing.signer import Signer

COUNTRY = "VN"


class KeySource(Protocol):
    """Where the current signers come from (signing.keys.SigningKeys)."""

    def dcc_signer(self) -> Signer | None: ...

    def shc_signer(self) -> Signer | None: ...


class SettingsSource(Protocol):
    """The settings that say who issues and for how long (config.settings.Settings)."""

    certificate_issuer_url: str
    certificate_issuer: str
    certificate_validity_days: int


@dataclass(frozen=True)
class Signers:
    """Who signs and in whose name. A signer that is None: that form is not issued."""

    dcc: Signer | None
    shc: Signer | None
    issuer_url: str  # the SHC `iss`
    issuer: str  # the DCC `is`
    country: str = COUNTRY  # the DCC `co` and its CWT `iss`
    validity_days: int = 365

    @classmethod
    def from_settings(cls, settings: SettingsSource, keys: KeySource) -> Signers:
        return cls(
            dcc=keys.dcc_signer(),
            shc=keys.shc_signer(),
            issuer_url=settings.certificate_issuer_url,
            issuer=settings.certificate_issuer,
            validity_days=settings.certificate_validity_days,
        )

    @property
    def signs(self) -> bool:
        """Whether any form is signed at all."""
        return self.dcc is not None or self.shc is not None


@dataclass(frozen=True)
class SignedForms:
    """A version's QR texts. dcc: [{uvci, dn, sd, qr}] in dose order; shc: {jws, qr: [chunks]}
    or None (no SHC key when it was issued)."""

    dcc: list[dict[str, Any]] = field(default_factory=list)
    shc: dict[str, Any] | None = None


def sign_version(
    certified: Certified, certificate_id: str, key: bytes, signers: Signers, now: datetime
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The Issued event's `dcc` and `shc` fields for this version, signed at `now`:
    dcc: [{uvci, kid (base64), iss, iat, exp, is, co, signature (base64)}], one per dose in dose
    order ([] without a DCC signer, or for a name a DCC cannot carry: dcc.name_refusal); shc:
    {rid, kid, iss, nbf, signature (base64url)}, or None (no card key, or a dose whose product
    has no CVX code)."""
    moment = int(now.timestamp())
    entries: list[dict[str, Any]] = []
    # A name a DCC cannot carry gets no DCC; the SMART Health Card carries it as written.
    if signers.dcc is not None and dcc.name_refusal(certified.full_name) is None:
        kid = base64.b64encode(signers.dcc.kid).decode()
        expires = int((now + timedelta(days=signers.validity_days)).timestamp())
        for index in range(len(certified.doses)):
            identifier = uvci(certificate_id, index, key, signers.country)
            payload = dcc.hcert(certified, index, identifier, issuer=signers.issuer, country=signers.country)
            _, signature = dcc.sign(payload, signers.dcc, iss=signers.country, iat=moment, exp=expires)
            entries.append(
                {
                    "uvci": identifier,
                    "kid": kid,
                    "iss": signers.country,
                    "iat": moment,
                    "exp": expires,
                    "is": signers.issuer,
                    "co": signers.country,
                    "signature": base64.b64encode(signature).decode(),
                }
            )
    card: dict[str, Any] | None = None
    # A card names each dose by its CVX code; a product with none (Covishield, Hayat-Vax, ...:
    # the rules say which) gets no card, and its DCCs are signed all the same.
    if signers.shc is not None and all(d.cvx for d in certified.doses):
        rid = shc_rid(certificate_id, key)
        credential = shc.credential(certified, iss=signers.issuer_url, nbf=moment, rid=rid)
        _, signature = shc.sign(credential, signers.shc)
        card = {
            "rid": rid,
            "kid": signers.shc.kid.decode("ascii"),
            "iss": signers.issuer_url,
            "nbf": moment,
            "signature": _b64url(signature),
        }
    return entries, card


def assemble_version(
    certified: Certified, dcc_entries: list[dict[str, Any]], shc_entry: dict[str, Any] | None
) -> SignedForms:
    """The QR texts of an issued version, from its content and its Issued event's entries."""
    if dcc_entries and len(dcc_entries) != len(certified.doses):
        # The content is not the one that was signed: assembling would give texts whose
        # signatures fail, so say so instead.
        raise ValueError(f"{len(dcc_entries)} signed DCCs for {len(certified.doses)} doses")
    documents = []
    for index, entry in enumerate(dcc_entries):
        payload = dcc.hcert(certified, index, entry["uvci"], issuer=entry["is"], country=entry["co"])
        qr = dcc.assemble(
            payload,
            kid=base64.b64decode(entry["kid"]),
            iss=entry["iss"],
            iat=entry["iat"],
            exp=entry["exp"],
            signature=base64.b64decode(entry["signature"]),
        )
        dose = certified.doses[index]
        documents.append({"uvci": entry["uvci"], "dn": dose.number, "sd": dose.series, "qr": qr})
    card = None
    if shc_entry is not None:
        credential = shc.credential(
            certified, iss=shc_entry["iss"], nbf=shc_entry["nbf"], rid=shc_entry["rid"]
        )
        jws = shc.assemble(credential, shc_entry["kid"], _unb64url(shc_entry["signature"]))
        card = {"jws": jws, "qr": shc.qr_chunks(jws)}
    return SignedForms(dcc=documents, shc=card)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
