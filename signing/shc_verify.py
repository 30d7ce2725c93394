"""Reading and checking a SMART Health Card: decode a JWS or its QR chunks, then judge it
against the trust list, a clock and the issuer's revocation list.

`decode` raises only `Unreadable`, whatever it is given. `verify` never raises for a card's
content: every reason a card is not valid is in the verdict, in words a verifier can act on, and
none of them quotes the card's personal content.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from signing.shc_card import HEALTH_CARD
from signing.shc_qr import PREFIX, Unreadable, jws_from_qr
from signing.trust import TrustList
from signing.verdict import Verdict

# Far above any card (the spec's largest example inflates to 8 kB): a card that inflates beyond
# this is refused before it fills memory.
MAX_JWS = 256 * 1024
MAX_PAYLOAD = 1024 * 1024
_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

RevocationCheck = Callable[[str, str, str, int], str | None]


@dataclass(frozen=True)
class Decoded:
    jws: str
    header: dict[str, Any]
    credential: dict[str, Any]  # the JWS payload, inflated
    signature: bytes
    signing_input: bytes


def decode(text_or_chunks: str | Sequence[str]) -> Decoded:
    """A compact JWS, one `shc:/` QR text, or a list of QR chunks (any order)."""
    if isinstance(text_or_chunks, str):
        text = text_or_chunks.strip()
        jws = jws_from_qr([text]) if text[: len(PREFIX)].lower() == PREFIX else text
    else:
        jws = jws_from_qr(text_or_chunks)
    if len(jws) > MAX_JWS:
        raise Unreadable(f"JWS: longer than {MAX_JWS} characters")
    parts = jws.split(".")
    if len(parts) != 3:
        raise Unreadable(f"JWS: {len(parts)} part(s), a compact JWS has 3 separated by '.'")
    head_b64, payload_b64, signature_b64 = parts
    header = _json_object(_b64url_decode(head_b64, "header"), "header")
    if header.get("zip") != "DEF":
        raise Unreadable("header: zip is not 'DEF' (a SMART Health Card's payload is DEFLATE-compressed)")
    payload = _inflate(_b64url_decode(payload_b64, "payload"))
    return Decoded(
        jws=jws,
        header=header,
        credential=_json_object(payload, "payload"),
        signature=_b64url_decode(signature_b64, "signature"),
        signing_input=f"{head_b64}.{payload_b64}".encode("ascii"),
    )


def _b64url_decode(text: str, part: str) -> bytes:
    if not text or set(text) - _B64URL or len(text) % 4 == 1:
        raise Unreadable(f"{part}: not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise Unreadable(f"{part}: not base64url") from e


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(data, MAX_PAYLOAD)
    except zlib.error as e:
        raise Unreadable("payload: not raw DEFLATE data") from e
    if inflater.unconsumed_tail:
        raise Unreadable(f"payload: inflates beyond {MAX_PAYLOAD} bytes")
    if not inflater.eof:
        raise Unreadable("payload: the DEFLATE data is truncated")
    if inflater.unused_data:
        raise Unreadable("payload: bytes after the end of the DEFLATE data")
    return out


def _json_object(data: bytes, part: str) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise Unreadable(f"{part}: not UTF-8 JSON") from e
    if not isinstance(value, dict):
        raise Unreadable(f"{part}: not a JSON object")
    return value


def verify(
    text_or_chunks: str | Sequence[str],
    trust: TrustList,
    *,
    at: datetime,
    revoked: RevocationCheck | None = None,
    vaccination_card: bool = True,
) -> Verdict:
    """The verdict on a card at the time `at` (timezone-aware). `revoked(iss, kid, rid, nbf)`
    names a revocation or answers None (`crl_revoked` makes one from an issuer's CRL); it is
    asked only of cards that carry a `rid`. `vaccination_card`: the bundle must hold a Patient
    and at least one Immunization (a lab result's card is not one); False checks only that
    the bundle's entries are FHIR resources (Immunizations, if any, are checked either way)."""
    if at.tzinfo is None:
        raise ValueError("at: must be timezone-aware")
    try:
        card = decode(text_or_chunks)
    except Unreadable as e:
        return Verdict(format="shc", reasons=[f"unreadable: {e.reason}"])
    payload = card.credential
    verdict = Verdict(format="shc", payload=payload)
    reasons = verdict.reasons
    kid = card.header.get("kid")
    iss = payload.get("iss")
    verdict.kid = kid if isinstance(kid, str) else None
    if card.header.get("alg") != "ES256":
        reasons.append("header: alg is not ES256")
    if not isinstance(kid, str) or not kid:
        reasons.append("header: no kid")
    if not isinstance(iss, str) or not iss:
        reasons.append("payload: no iss")
    if isinstance(kid, str) and kid and isinstance(iss, str) and iss:
        _check_signature(card, trust, iss, kid, reasons)
    nbf = _check_times(payload, at, verdict)
    _check_bundle(payload, reasons, vaccination_card)
    rid = payload.get("vc", {}).get("rid") if isinstance(payload.get("vc"), dict) else None
    if rid is not None and not isinstance(rid, str):
        reasons.append("vc.rid: not a string")
    elif revoked is not None and rid is not None and isinstance(kid, str) and isinstance(iss, str):
        # Whole seconds: the spec's CRL timestamps are whole seconds, and floor(nbf) < t exactly
        # when nbf < t for an integer t.
        why = revoked(iss, kid, rid, math.floor(nbf) if nbf is not None else 0)
        if why is not None:
            verdict.revoked = True
            reasons.append(why)
    verdict.valid = not reasons
    return verdict


def _check_signature(card: Decoded, trust: TrustList, iss: str, kid: str, reasons: list[str]) -> None:
    key = trust.shc_key(iss, kid)
    if key is None:
        if any(issuer == iss for issuer, _ in trust.shc_keys):
            reasons.append(f"unknown kid {_quoted(kid)} for issuer {_quoted(iss)}")
        else:
            reasons.append(f"unknown issuer {_quoted(iss)}")
        return
    if len(card.signature) != 64:
        reasons.append(f"signature: {len(card.signature)} bytes, an ES256 signature is 64 (r||s)")
        return
    r = int.from_bytes(card.signature[:32], "big")
    s = int.from_bytes(card.signature[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), card.signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        reasons.append("signature does not verify")


def _quoted(text: str) -> str:
    """A card's own id or URL, cut short: a verdict echoes it, never at any length."""
    return repr(text if len(text) <= 100 else text[:100] + "...")


def _check_times(payload: dict[str, Any], at: datetime, verdict: Verdict) -> float | None:
    now = at.timestamp()
    nbf = _seconds(payload.get("nbf"))
    if nbf is None:
        verdict.reasons.append("payload: nbf is not a time (seconds since 1970)")
    elif nbf > now:
        verdict.reasons.append(f"not valid before {_iso(nbf)}")
    if "exp" in payload:
        exp = _seconds(payload["exp"])
        if exp is None:
            verdict.reasons.append("payload: exp is not a time (seconds since 1970)")
        elif exp < now:
            verdict.expired = True
            verdict.reasons.append(f"expired at {_iso(exp)}")
    return nbf


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or not 0 <= value < 253402300800:  # up to year 9999
        return None
    return float(value)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _check_bundle(payload: dict[str, Any], reasons: list[str], vaccination_card: bool) -> None:
    """The credential's basic shape: names the field at fault, never its value."""
    vc = payload.get("vc")
    if not isinstance(vc, dict):
        reasons.append("payload: no vc object")
        return
    types = vc.get("type")
    if not isinstance(types, list) or HEALTH_CARD not in types:
        reasons.append(f"vc.type: does not include {HEALTH_CARD}")
    subject = vc.get("credentialSubject")
    bundle = subject.get("fhirBundle") if isinstance(subject, dict) else None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        reasons.append("vc.credentialSubject.fhirBundle: not a FHIR Bundle")
        return
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        reasons.append("fhirBundle.entry: no entries")
        return
    patients: set[str] = set()
    immunizations: list[tuple[int, dict[str, Any]]] = []
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            reasons.append(f"fhirBundle.entry[{index}]: no resource with a resourceType")
            continue
        if resource["resourceType"] == "Patient":
            full_url = entry.get("fullUrl")
            patients.add(full_url if isinstance(full_url, str) else "")
        elif resource["resourceType"] == "Immunization":
            immunizations.append((index, resource))
    if vaccination_card and not patients:
        reasons.append("fhirBundle: no Patient")
    if vaccination_card and not immunizations:
        reasons.append("fhirBundle: no Immunization (not a vaccination card)")
    for index, immunization in immunizations:
        reasons.extend(_immunization_faults(index, immunization, patients))


def _immunization_faults(index: int, resource: Mapping[str, Any], patients: set[str]) -> list[str]:
    at = f"fhirBundle.entry[{index}] (Immunization)"
    faults = []
    if not isinstance(resource.get("status"), str):
        faults.append(f"{at}: no status")
    coding = (
        resource.get("vaccineCode", {}).get("coding")
        if isinstance(resource.get("vaccineCode"), dict)
        else None
    )
    if not isinstance(coding, list) or not any(
        isinstance(c, dict) and isinstance(c.get("system"), str) and isinstance(c.get("code"), str)
        for c in coding
    ):
        faults.append(f"{at}: vaccineCode has no coding with a system and a code")
    patient = resource.get("patient")
    if not isinstance(patient, dict) or patient.get("reference") not in patients:
        faults.append(f"{at}: patient does not reference the bundle's Patient")
    if not isinstance(resource.get("occurrenceDateTime"), str) and not isinstance(
        resource.get("occurrenceString"), str
    ):
        faults.append(f"{at}: no occurrenceDateTime")
    return faults


def crl_revoked(crl: Mapping[str, Any], *, iss: str | None = None) -> RevocationCheck:
    """The `revoked` callable of an issuer key's revocation list ({kid, method "rid", ctr,
    rids}): a listed rid revokes every card with it, a rid with a `.timestamp` suffix only the
    cards whose nbf is before that time. Cards signed by another key (or, when `iss` is given,
    another issuer) are not its business. Raises ValueError naming a malformed field."""
    kid = crl.get("kid")
    if not isinstance(kid, str) or not kid:
        raise ValueError("crl.kid: missing")
    if crl.get("method") != "rid":
        raise ValueError("crl.method: only 'rid' is supported")
    rids = crl.get("rids")
    if not isinstance(rids, list):
        raise ValueError("crl.rids: not a list")
    always: set[str] = set()
    before: dict[str, float] = {}
    for position, item in enumerate(rids):
        if not isinstance(item, str) or not item:
            raise ValueError(f"crl.rids[{position}]: not a rid")
        rid, dot, suffix = item.partition(".")
        if not dot:
            always.add(rid)
            continue
        try:
            stamp = float(suffix)
        except ValueError:
            stamp = math.nan
        if _seconds(stamp) is None:
            raise ValueError(f"crl.rids[{position}]: the timestamp after '.' is not a time")
        before[rid] = max(stamp, before.get(rid, stamp))

    def revoked(card_iss: str, card_kid: str, rid: str, nbf: int) -> str | None:
        if card_kid != kid or (iss is not None and card_iss != iss):
            return None
        if rid in always:
            return "revoked by its issuer"
        if rid in before and nbf < before[rid]:
            return f"revoked by its issuer: issued before {_iso(before[rid])}"
        return None

    return revoked
