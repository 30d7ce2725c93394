"""What a certificate certifies, and the ids that come from it.

A certificate version is identified by what it certifies: the person, their name and birth
date, the doses shown with their numbers (dn/sd) and the rules version that numbered them, and
which version of the person's certificate it is. `certificate_id` is a keyed digest of that
content and that number: the same history gives the same ids on every rebuild, and different
content can never come out under an issued id. The number is part of it because a content can
come back (a lot amended, then amended back): the version that certifies it again is new and
valid, while the earlier one, with the same content, stays revoked. Keyed (HMAC under the
deployment's secret), because the content holds a name and a birth date, which a plain digest
would let anyone holding the id test guesses against.

The UVCI of each dose's EU DCC and the SMART Health Card's revocation id (`rid`) are derived
from the certificate id the same way: opaque, and nothing in them leads back to a national id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson

from ledger.rules import day_of
from ledger.series import Evaluation
from ledger.series_rules import SeriesRules


@dataclass(frozen=True)
class CertifiedDose:
    dose_id: str
    vaccine: str  # the catalog code, which is the EU value set's medicinal product (`mp`)
    manufacturer: str | None  # `ma`, from the series rules
    prophylaxis: str  # `vp` (SNOMED CT), from the series rules
    cvx: str | None  # the CDC CVX code, for SMART Health Cards
    number: int  # `dn`
    series: int  # `sd`
    administered_on: str  # YYYY-MM-DD (`dt`)
    lot: str | None
    site_id: str


@dataclass(frozen=True)
class Certified:
    """The content of one certificate version."""

    person_id: str
    rules_version: int
    full_name: str
    birth_date: str
    status: str  # none | partial | complete | booster
    doses: tuple[CertifiedDose, ...]

    def canonical(self) -> bytes:
        """One byte string per content: sorted keys, no whitespace (orjson)."""
        # The bytes of asdict(self), built without asdict's deep copy of every value (half a
        # certificates rebuild's time): the fields are plain str, int and None.
        fields = {**vars(self), "doses": [vars(dose) for dose in self.doses]}
        return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)


def certify(
    person_id: str, details: Mapping[str, Any], evaluation: Evaluation, rules: SeriesRules
) -> Certified | None:
    """What a person's record certifies under `rules`, or None when there is nothing to certify:
    no valid dose of a certifiable product, or no name or birth date (an erased person).

    The same record and rules give an equal Certified (so the same certificate id): the doses
    come in the evaluation's administered order, which does not depend on how they were read.
    A dose of a product the rules cannot certify is left out, but still counts in the series,
    so the doses shown keep their numbers (Nanocovax twice, then Comirnaty: Comirnaty 3/3).
    """
    full_name, birth_date = details.get("full_name"), details.get("birth_date")
    if not full_name or not birth_date:
        return None
    doses = []
    for numbered in rules.number(evaluation):
        dose = numbered.dose
        product = rules.products.get(dose["vaccine"])
        if product is None or not product.certifiable or product.vp is None:
            continue
        doses.append(
            CertifiedDose(
                dose_id=str(dose["dose_id"]),
                vaccine=product.code,
                manufacturer=product.ma,
                prophylaxis=product.vp,
                cvx=product.cvx,
                number=numbered.number,
                series=numbered.series,
                administered_on=day_of(dose["administered_at"]).isoformat(),
                lot=dose.get("lot"),
                site_id=str(dose["site_id"]),
            )
        )
    if not doses:
        return None
    return Certified(
        person_id=str(person_id),
        rules_version=rules.version,
        full_name=str(full_name),
        birth_date=str(birth_date),
        status=rules.status(evaluation),
        doses=tuple(doses),
    )


def _mac(key: bytes, purpose: str, data: bytes) -> bytes:
    return hmac.new(key, purpose.encode() + b"\0" + data, hashlib.sha256).digest()


def content_digest(certified: Certified, key: bytes) -> str:
    """The keyed digest of the content, hex (what an issuance event records)."""
    return _mac(key, "certificate-content", certified.canonical()).hex()


def certificate_id(certified: Certified, key: bytes, version: int) -> str:
    """The id of the `version`-th version of a person's certificate, certifying this content."""
    return certificate_id_of(content_digest(certified, key), version, key)


def certificate_id_of(digest: str, version: int, key: bytes) -> str:
    """The certificate id a content digest (`content_digest`) makes as the `version`-th version:
    for a caller that needs both, one digest of the content, not two. The first 16 bytes of a
    keyed digest of the two, as a version-8 UUID."""
    raw = bytearray(_mac(key, "certificate-id", f"{digest}/{version}".encode())[:16])
    raw[6] = (raw[6] & 0x0F) | 0x80
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(UUID(bytes=bytes(raw)))


# The UVCI check character's alphabet (the DCC schema's FAQ, "UVCI checksum"; verifiers such as
# the Swedish DIGG library check it): Luhn mod 38 over these, the whole UVCI before the "#".
_UVCI_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/:"


def uvci(certificate_id: str, dose_index: int, key: bytes, country: str = "VN") -> str:
    """The UVCI of the EU DCC for the `dose_index`-th dose of a version: `URN:UVCI:01:VN:` then
    26 opaque characters (base32 of a keyed digest), then `#` and a Luhn mod 38 check character
    (the eHealth Network's UVCI guidelines, option 3: no semantics in the identifier)."""
    opaque = base64.b32encode(_mac(key, "uvci", f"{certificate_id}/{dose_index}".encode())[:16]).decode()[:26]
    body = f"URN:UVCI:01:{country}:{opaque}"
    return f"{body}#{_luhn_mod_n(body)}"


def shc_rid(certificate_id: str, key: bytes) -> str:
    """The SMART Health Card revocation id of a version: base64url of 8 bytes of a keyed digest
    (the spec's limit is 24 characters; this is 11)."""
    return base64.urlsafe_b64encode(_mac(key, "shc-rid", certificate_id.encode())[:8]).decode().rstrip("=")


def _luhn_mod_n(text: str) -> str:
    """The Luhn mod N check character over every character of the UVCI (N = 38)."""
    n, factor, total = len(_UVCI_ALPHABET), 2, 0
    for c in reversed(text.upper()):
        addend = factor * _UVCI_ALPHABET.index(c)
        factor = 1 if factor == 2 else 2
        total += addend // n + addend % n
    return _UVCI_ALPHABET[(n - total % n) % n]
