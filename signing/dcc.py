"""The EU Digital COVID Certificate: the payload of one dose, its signing, its QR text, and
the verifier.

The QR text is `HC1:` + base45(zlib(COSE_Sign1 tagged 18)); the COSE payload is a CWT with
claims 1 (iss), 4 (exp), 6 (iat) and -260 {1: the hcert}. The signature is made once and
stored; `assemble` rebuilds the same text from the content and that signature, byte for byte.
The COSE structure is assembled in `cose.py` (why not pycose: there).

Verification is format-level: test (`t`) and recovery (`r`) certificates verify as well as
vaccinations; they are never turned into doses.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import base45  # type: ignore[import-untyped]
import cbor2
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from ledger.certification import Certified
from ledger.icao import split_name
from signing import cose, schema
from signing.signer import Signer
from signing.trust import TrustList
from signing.verdict import Verdict

PREFIX = "HC1:"
SCHEMA_VERSION = "1.3.0"
COVID_19 = "840539006"  # SNOMED CT, the value set disease-agent-targeted
ISS, EXP, IAT, HCERT, EU_DCC_V1 = 1, 4, 6, -260, 1
# zlib's window of a QR's worth of text never inflates past this; more is not a certificate.
MAX_INFLATED = 64 * 1024

# The DSC's extended key usage per certificate type. The first versions of the hcert
# specification printed the OIDs with an extra ".0" arc, and DSCs issued then carry it: both
# forms are read alike.
KEY_USAGE = {
    "t": "1.3.6.1.4.1.1847.2021.1.1",
    "v": "1.3.6.1.4.1.1847.2021.1.2",
    "r": "1.3.6.1.4.1.1847.2021.1.3",
}
_KEY_USAGE_OIDS = {oid: kind for kind, oid in KEY_USAGE.items()} | {
    oid.replace(".1847.", ".0.1847."): kind for kind, oid in KEY_USAGE.items()
}
TYPE_NAMES = {"v": "vaccination", "t": "test", "r": "recovery"}


class Unreadable(ValueError):
    """The text is not a readable EU DCC; `reason` says why in words, `step` at which step of
    the reading: "prefix", "base45", "zlib", "cose" (CBOR and the COSE_Sign1) or "claims"."""

    def __init__(self, reason: str, step: str = "cose") -> None:
        super().__init__(reason)
        self.reason = reason
        self.step = step


# --- issuing ---------------------------------------------------------------------------------


def _name(full_name: str) -> dict[str, str]:
    parts = split_name(full_name)
    name: dict[str, str] = {"fn": parts.family, "fnt": parts.family_icao}
    if parts.given is not None and parts.given_icao is not None:
        name |= {"gn": parts.given, "gnt": parts.given_icao}
    return name


def name_refusal(full_name: str) -> str | None:
    """Why a DCC cannot carry this name (None: it can). A name of no Latin letter at all
    (another script) has no ICAO 9303 form, and the schema requires one. Names no part of it."""
    return _refusal(_name(full_name))


def _refusal(name: dict[str, str]) -> str | None:
    if any(name[field] == "" for field in ("fnt", "gnt") if field in name):
        return "a part of the name has no letter an ICAO 9303 form can carry"
    return None


def hcert(certified: Certified, index: int, uvci: str, *, issuer: str, country: str = "VN") -> dict[str, Any]:
    """The DCC 1.3.0 payload of the `index`-th dose of a certificate version: one DCC per dose,
    as the schema allows one vaccination entry only."""
    if not 0 <= index < len(certified.doses):
        raise ValueError(f"index: the version certifies {len(certified.doses)} doses, no dose {index}")
    dose = certified.doses[index]
    if dose.manufacturer is None:
        raise ValueError(
            f"doses[{index}].manufacturer: the DCC needs the marketing authorisation holder (ma)"
        )
    name = _name(certified.full_name)
    refused = _refusal(name)
    if refused is not None:
        raise ValueError(f"full_name: {refused}")
    return {
        "ver": SCHEMA_VERSION,
        "nam": name,
        "dob": certified.birth_date,
        "v": [
            {
                "tg": COVID_19,
                "vp": dose.prophylaxis,
                "mp": dose.vaccine,
                "ma": dose.manufacturer,
                "dn": dose.number,
                "sd": dose.series,
                "dt": dose.administered_on,
                "co": country,
                "is": issuer,
                "ci": uvci,
            }
        ],
    }


def _claims(hcert: dict[str, Any], *, iss: str, iat: int, exp: int) -> bytes:
    return cose.canonical({ISS: iss, EXP: exp, IAT: iat, HCERT: {EU_DCC_V1: hcert}})


def signed_bytes(hcert: dict[str, Any], *, kid: bytes, iss: str, iat: int, exp: int) -> bytes:
    """The COSE Sig_structure a signer signs (ES256, `kid` in the protected header)."""
    return cose.sig_structure(
        cose.protected_header(cose.ES256, kid), _claims(hcert, iss=iss, iat=iat, exp=exp)
    )


def assemble(hcert: dict[str, Any], *, kid: bytes, iss: str, iat: int, exp: int, signature: bytes) -> str:
    """The QR text from the content and a signature made over `signed_bytes` of the same."""
    message = cose.Sign1(
        protected=cose.protected_header(cose.ES256, kid),
        unprotected={},
        payload=_claims(hcert, iss=iss, iat=iat, exp=exp),
        signature=signature,
    )
    compressed = zlib.compress(cose.encode(message), 9)
    encoded: bytes = base45.b45encode(compressed)
    return PREFIX + encoded.decode("ascii")


def sign(hcert: dict[str, Any], signer: Signer, *, iss: str, iat: int, exp: int) -> tuple[str, bytes]:
    """The QR text and the signature to store with the issuance."""
    signature = signer.sign(signed_bytes(hcert, kid=signer.kid, iss=iss, iat=iat, exp=exp))
    return assemble(hcert, kid=signer.kid, iss=iss, iat=iat, exp=exp, signature=signature), signature


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decoded:
    protected: dict[Any, Any]
    unprotected: dict[Any, Any]
    claims: dict[Any, Any]
    hcert: dict[str, Any]
    signature: bytes
    kid: bytes | None  # the protected header's, else the unprotected one's
    signed: bytes  # the Sig_structure the signature covers

    @property
    def alg(self) -> Any:
        return self.protected.get(cose.ALG, self.unprotected.get(cose.ALG))

    @property
    def kinds(self) -> list[str]:
        """The certificate types the payload holds: "v", "t", "r"."""
        return [kind for kind in ("v", "t", "r") if self.hcert.get(kind)]


def decode(text: str) -> Decoded:
    """Read a QR text down to its hcert, checking nothing cryptographic.

    Raises Unreadable, naming the step, and nothing else, for any input."""
    try:
        return _decode(text)
    except Unreadable:
        raise
    except Exception as e:  # any library's complaint about hostile input is still unreadable
        raise Unreadable(f"not a readable EU DCC ({type(e).__name__})") from e


def _decode(text: str) -> Decoded:
    if not isinstance(text, str):
        raise Unreadable("the QR content is not text", "prefix")
    if not text.startswith(PREFIX):
        raise Unreadable(f"no {PREFIX} prefix: not an EU DCC", "prefix")
    try:
        compressed = base45.b45decode(text[len(PREFIX) :])
    except Exception as e:
        raise Unreadable("the text after HC1: is not valid base45", "base45") from e
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(compressed, MAX_INFLATED)
        if inflater.unconsumed_tail:
            raise Unreadable(f"the content inflates past {MAX_INFLATED} bytes", "zlib")
        if not inflater.eof:
            raise Unreadable("the zlib stream is truncated", "zlib")
    except zlib.error as e:
        raise Unreadable("the content is not a valid zlib stream", "zlib") from e
    try:
        message = cose.decode(raw)
    except cose.NotSign1 as e:
        raise Unreadable(f"not a COSE_Sign1: {e}") from e
    except Exception as e:
        raise Unreadable("the inflated content is not CBOR") from e
    try:
        protected = message.protected_header
    except Exception as e:
        raise Unreadable("the protected header is not a CBOR map") from e
    try:
        claims = cbor2.loads(message.payload)
    except Exception as e:
        raise Unreadable("the COSE payload is not CBOR", "claims") from e
    if not isinstance(claims, dict):
        raise Unreadable("the COSE payload is not a CWT claims map", "claims")
    container = claims.get(HCERT)
    if not isinstance(container, dict) or not isinstance(container.get(EU_DCC_V1), dict):
        raise Unreadable("the CWT has no hcert claim (-260, 1)", "claims")
    kid = protected.get(cose.KID) if cose.KID in protected else message.unprotected.get(cose.KID)
    return Decoded(
        protected=protected,
        unprotected=message.unprotected,
        claims=claims,
        hcert=_as_json(container[EU_DCC_V1]),
        signature=message.signature,
        kid=kid if isinstance(kid, bytes) else None,
        signed=message.to_be_signed(),
    )


# --- verifying -------------------------------------------------------------------------------


@dataclass
class Examination:
    """Each check of a verification apart (None: not reached), for a verifier that shows them
    and for the eHealth Network's test vectors, which expect each on its own."""

    decoded: Decoded | None = None
    unreadable: str | None = None
    dsc: x509.Certificate | None = None
    signature: str | None = None  # a problem, or None when it verifies
    signature_checked: bool = False
    timing: list[str] = field(default_factory=list)  # the CWT's iat/exp at the clock
    dsc_validity: str | None = None
    key_usage: str | None = None
    key_usage_checked: bool = False
    schema: list[str] | None = None
    revocation: str | None = None

    def reasons(self) -> list[str]:
        if self.unreadable is not None:
            return [self.unreadable]
        found = [self.signature] if self.signature else []
        found += self.timing
        found += [r for r in (self.dsc_validity, self.key_usage) if r]
        found += [f"schema: {p}" for p in self.schema or []]
        if self.revocation:
            found.append(f"revoked: {self.revocation}")
        return found


def examine(
    text: str,
    trust: TrustList,
    *,
    at: datetime,
    revoked: Callable[[str, str], str | None] | None = None,
    check_schema: bool = True,
) -> Examination:
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    result = Examination()
    try:
        decoded = result.decoded = decode(text)
    except Unreadable as e:
        result.unreadable = e.reason
        return result
    dsc = result.dsc = trust.dsc(decoded.kid) if decoded.kid is not None else None
    if decoded.kid is None:
        result.signature = "no kid in the COSE headers: the signer cannot be found"
    elif dsc is None:
        result.signature = f"unknown kid {base64.b64encode(decoded.kid).decode()!r}: not a trusted signer"
    else:
        result.signature_checked = True
        try:
            public_key = dsc.public_key()
        except (UnsupportedAlgorithm, ValueError):  # a key `cryptography` does not read
            result.signature = "the signing certificate's public key cannot be read"
        else:
            result.signature = cose.signature_problem(
                decoded.alg, public_key, decoded.signed, decoded.signature
            )
        result.dsc_validity = dsc_validity_problem(dsc, at)
        result.key_usage_checked = True
        result.key_usage = key_usage_problem(dsc, decoded.kinds)
    result.timing = timing_problems(decoded.claims, at)
    if check_schema:
        result.schema = schema.validate(decoded.hcert)
    if revoked is not None:
        result.revocation = _revocation(decoded.hcert, revoked)
    return result


def verify(
    text: str,
    trust: TrustList,
    *,
    at: datetime,
    revoked: Callable[[str, str], str | None] | None = None,
    check_schema: bool = True,
) -> Verdict:
    """Decode, find the DSC by kid, check the signature, the CWT's validity and the DSC's at
    `at`, the DSC's key usage for the certificate type, the schema, and `revoked(uvci, country)`
    (a reason or None). Valid when nothing is wrong; every reason it is not is listed."""
    result = examine(text, trust, at=at, revoked=revoked, check_schema=check_schema)
    decoded = result.decoded
    reasons = result.reasons()
    exp = decoded.claims.get(EXP) if decoded else None
    return Verdict(
        format="dcc"
        if decoded is not None or (isinstance(text, str) and text.startswith(PREFIX))
        else "unknown",
        valid=not reasons,
        revoked=result.revocation is not None,
        expired=isinstance(exp, int) and exp < (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp(),
        reasons=reasons,
        payload=decoded.hcert if decoded else None,
        kid=base64.b64encode(decoded.kid).decode() if decoded and decoded.kid else None,
    )


def timing_problems(claims: dict[Any, Any], at: datetime) -> list[str]:
    """The CWT's expiry (4) and issuance (6) against the clock."""
    problems = []
    now = at.timestamp()
    exp, iat = claims.get(EXP), claims.get(IAT)
    if not isinstance(exp, int | float):
        problems.append("no expiry time (CWT claim 4)")
    elif exp < now:
        problems.append(f"expired at {_when(exp)}")
    if isinstance(iat, int | float) and iat > now:
        problems.append(f"issued at {_when(iat)}, after the verification time")
    return problems


def dsc_validity_problem(dsc: x509.Certificate, at: datetime) -> str | None:
    if at < dsc.not_valid_before_utc:
        return f"the signing certificate is valid only from {dsc.not_valid_before_utc.isoformat()}"
    if at > dsc.not_valid_after_utc:
        return f"the signing certificate expired at {dsc.not_valid_after_utc.isoformat()}"
    return None


def key_usage_problem(dsc: x509.Certificate, kinds: list[str]) -> str | None:
    """Whether the DSC may sign these certificate types: a DSC without an extended key usage
    signs any type; with one, only the types whose OIDs it lists."""
    try:
        usage = dsc.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    except ValueError:
        # Some issuers' DSCs encode a default value (BasicConstraints' cA FALSE), which DER
        # forbids and `cryptography` refuses to read: their key usage cannot be read either,
        # so it restricts nothing, as for a DSC without one.
        return None
    allowed = {_KEY_USAGE_OIDS[o.dotted_string] for o in usage if o.dotted_string in _KEY_USAGE_OIDS}
    refused = [TYPE_NAMES[k] for k in kinds if k not in allowed]
    if refused:
        may = ", ".join(TYPE_NAMES[k] for k in ("v", "t", "r") if k in allowed) or "no DCC type"
        return f"the signing certificate may sign {may}, not {' or '.join(refused)}"
    return None


def _revocation(hcert: dict[str, Any], revoked: Callable[[str, str], str | None]) -> str | None:
    for kind in ("v", "t", "r"):
        entries = hcert.get(kind)
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("ci"), str):
                reason = revoked(entry["ci"], str(entry.get("co", "")))
                if reason is not None:
                    return reason
    return None


def _as_json(value: Any) -> Any:
    """The payload as JSON values: some issuers write date-times as CBOR tag 0 (or 1), which
    `cbor2` reads as datetimes; the hcert's JSON form is the RFC 3339 text."""
    if isinstance(value, datetime):
        if value.utcoffset() == timedelta(0):
            return value.replace(tzinfo=None).isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_json(v) for v in value]
    return value


def _when(timestamp: float) -> str:
    try:
        return datetime.fromtimestamp(timestamp, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return str(timestamp)
