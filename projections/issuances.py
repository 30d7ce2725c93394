"""The issuances: what was signed for each certificate version, and what was revoked.

Folded from the Issuance streams (ledger/issuance.py): one row per certificate id with its
person, version, key ids, UVCIs, SHC revocation id and the times it was issued and revoked; one
row per signed EU DCC (by UVCI) and per SMART Health Card (by key id and revocation id), each
with its revocation. What they answer:

- the signed entries of a version, to assemble its QR texts again (`issued`);
- the EU DCC revocation list (`revoked_dcc`): per key id the revoked certificates as hashes of
  type UCI, SHA-256(UVCI), and COUNTRYCODEUCI, SHA-256(issuing country + UVCI), each its first
  16 bytes in base64 (the eHealth Network's revocation list; the country is the CWT's `iss`,
  which verifiers read from the certificate, and is the `co` of every DCC issued here);
- a SMART Health Card key's revocation list (`crl`): {kid, method "rid", ctr, rids:
  ["rid.timestamp"]}, cards of that rid issued before the timestamp (the second after the
  revocation) being revoked;
- whether one UVCI, or one (kid, rid), is revoked, for the verifier.

No personal data: the view holds ids, key ids, times and signatures, never a name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson
from eventsourcing.persistence import Tracking

from ledger.errors import InvalidValue
from ledger.issuance import Issuance
from projections.engine.paging import PagedProjection
from projections.engine.tables import Tables

HASH_TYPES = ("UCI", "COUNTRYCODEUCI")


def revocation_hash(text: str) -> str:
    """The EU DCC revocation list's hash: SHA-256 of the UTF-8 text, first 16 bytes, base64."""
    return base64.b64encode(hashlib.sha256(text.encode()).digest()[:16]).decode()


# --- the fold: a page of events → issuance records (no SQL) --------------------------------------


def _issued(event: Any) -> dict[str, Any]:
    return {
        "certificate_id": str(event.originator_id),
        "person_id": str(event.person_id),
        "version": event.version,
        "content_digest": event.content_digest,
        "rules_version": event.rules_version,
        "dcc": event.dcc,
        "shc": event.shc,
        "issued_at": event.timestamp.astimezone(UTC).isoformat(),
        "revoked": None,
    }


def fold_issuances(events: list[Any], records: dict[str, dict[str, Any]]) -> set[str]:
    """Apply a page's events, in order, to the records loaded for it (certificate id → record).
    Returns the ids of the records touched."""
    touched: set[str] = set()
    for event in events:
        cid = str(event.originator_id)
        if isinstance(event, Issuance.Issued):
            records[cid] = _issued(event)
        elif isinstance(event, Issuance.Revoked):
            if cid not in records:
                raise LookupError(f"certificate {cid} was revoked before it was issued")
            records[cid]["revoked"] = {
                "reason": event.reason,
                "successor": event.successor,
                "at": event.timestamp.astimezone(UTC).isoformat(),
            }
        else:
            continue
        touched.add(cid)
    return touched


def _epoch(moment: str | None) -> float | None:
    return None if moment is None else datetime.fromisoformat(moment).timestamp()


# --- the view ------------------------------------------------------------------------------------


class IssuancesView(Tables):
    name = "issuances"
    tables = {
        "certificates": "certificate_id TEXT PRIMARY KEY, person_id TEXT NOT NULL, "
        "version INTEGER NOT NULL, record TEXT NOT NULL",
        "dcc": "uvci TEXT PRIMARY KEY, certificate_id TEXT NOT NULL, kid TEXT NOT NULL, "
        "country TEXT NOT NULL, uci TEXT NOT NULL, country_uci TEXT NOT NULL, expires BIGINT NOT NULL, "
        "reason TEXT, revoked_epoch DOUBLE PRECISION",
        "shc": "kid TEXT NOT NULL, rid TEXT NOT NULL, certificate_id TEXT NOT NULL, "
        "nbf BIGINT NOT NULL, reason TEXT, revoked_epoch DOUBLE PRECISION, PRIMARY KEY (kid, rid)",
    }
    indexes = (
        ("certificates", "person_id"),
        ("dcc", "revoked_epoch, uvci"),
        ("shc", "kid, revoked_epoch"),
    )

    def issued(self, certificate_id: str) -> dict[str, Any] | None:
        """{certificate_id, person_id, version, content_digest, rules_version, dcc: [entries],
        shc: entry | None, issued_at, revoked: {reason, successor, at} | None}, or None for a
        version not issued (yet)."""
        rows = self.one_read("SELECT record FROM {certificates} WHERE certificate_id = ?", (certificate_id,))
        return orjson.loads(rows[0]["record"]) if rows else None

    def of_person(self, person_id: str) -> list[dict[str, Any]]:
        """Every issuance of a person's versions, oldest version first."""
        with self.reading() as sql:
            rows = sql.rows(
                "SELECT record FROM {certificates} WHERE person_id = ? ORDER BY version", (person_id,)
            )
        return [orjson.loads(r["record"]) for r in rows]

    def revoked_dcc(
        self, cursor: str | None = None, limit: int = 1000
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the EU DCC revocation list, the oldest revocations first: ([{kid, country,
        hashType, expires, hashes: [...]}], the cursor of the next page or None). Each revoked
        DCC of the page appears under its kid once per hash type. A cursor stays valid: a
        client that kept the last one reads only what was revoked since."""
        if not 1 <= limit <= 10_000:
            raise InvalidValue("limit", "must be from 1 to 10000")
        after_epoch, after_uvci = _cursor(cursor)
        with self.reading() as sql:
            rows = sql.rows(
                "SELECT uvci, kid, country, uci, country_uci, expires, revoked_epoch FROM {dcc} "
                "WHERE revoked_epoch IS NOT NULL AND (revoked_epoch > ? OR "
                "(revoked_epoch = ? AND uvci > ?)) ORDER BY revoked_epoch, uvci LIMIT ?",
                (after_epoch, after_epoch, after_uvci, limit + 1),
            )
        following = None
        if len(rows) > limit:
            rows = rows[:limit]
            following = _cursor_of(rows[-1]["revoked_epoch"], rows[-1]["uvci"])
        batches: dict[str, dict[str, dict[str, Any]]] = {}
        for row in rows:
            by_type = batches.setdefault(row["kid"], {})
            for hash_type, column in zip(HASH_TYPES, ("uci", "country_uci"), strict=True):
                batch = by_type.setdefault(
                    hash_type,
                    {
                        "kid": row["kid"],
                        "country": row["country"],
                        "hashType": hash_type,
                        "expires": 0,
                        "hashes": [],
                    },
                )
                batch["hashes"].append(row[column])
                batch["expires"] = max(batch["expires"], int(row["expires"]))
        listed = []
        for kid in sorted(batches):
            for hash_type in HASH_TYPES:
                batch = batches[kid][hash_type]
                batch["expires"] = datetime.fromtimestamp(batch["expires"], UTC).isoformat()
                listed.append(batch)
        return listed, following

    def crl(self, kid: str) -> dict[str, Any] | None:
        """The SMART Health Card revocation list of a key: {kid, method "rid", ctr (how many
        revocations it has listed: it only grows), rids: ["rid.timestamp", ...]}, or None for a
        key that signed no card."""
        if "\0" in kid:  # no key's id, and PostgreSQL takes no NUL in a text
            return None
        with self.reading() as sql:
            rows = sql.rows(
                "SELECT rid, revoked_epoch FROM {shc} WHERE kid = ? AND revoked_epoch IS NOT NULL "
                "ORDER BY revoked_epoch, rid",
                (kid,),
            )
            if not rows and not sql.rows("SELECT 1 AS known FROM {shc} WHERE kid = ? LIMIT 1", (kid,)):
                return None
        # A timestamp revokes the cards whose nbf is before it: the second after the revocation,
        # so that a card signed in the very second it was revoked in is revoked too.
        rids = [f"{r['rid']}.{int(r['revoked_epoch']) + 1}" for r in rows]
        return {"kid": kid, "method": "rid", "ctr": len(rids), "rids": rids}

    def is_revoked_uvci(self, uvci: str) -> str | None:
        """The reason the EU DCC of this UVCI was revoked, or None (also for an unknown UVCI)."""
        if "\0" in uvci:  # never issued, and PostgreSQL takes no NUL in a text
            return None
        rows = self.one_read("SELECT reason FROM {dcc} WHERE uvci = ?", (uvci,))
        return rows[0]["reason"] if rows else None

    def is_revoked_rid(self, kid: str, rid: str) -> str | None:
        """The reason the SMART Health Card of this key and revocation id was revoked, or None."""
        if "\0" in kid or "\0" in rid:  # never issued, and PostgreSQL takes no NUL in a text
            return None
        rows = self.one_read("SELECT reason FROM {shc} WHERE kid = ? AND rid = ?", (kid, rid))
        return rows[0]["reason"] if rows else None

    def every(self) -> list[dict[str, Any]]:
        """Every issuance record, by certificate id (for reconciliation)."""
        with self.reading() as sql:
            rows = sql.rows("SELECT record FROM {certificates} ORDER BY certificate_id")
        return [orjson.loads(r["record"]) for r in rows]

    def load(self, certificate_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The records of these certificate ids, as far as the view knows them."""
        with self.reading() as sql:
            rows = sql.rows_in(
                "SELECT record FROM {certificates} WHERE certificate_id IN ({ids})", certificate_ids
            )
        return {(record := orjson.loads(r["record"]))["certificate_id"]: record for r in rows}

    def save(self, records: dict[str, dict[str, Any]], tracking: Tracking, after: int | None) -> None:
        """Store these records, their DCCs and cards; move from `after` to `tracking`."""
        certificates, dccs, cards = [], [], []
        for cid, record in sorted(records.items()):
            revoked = record["revoked"]
            reason = revoked["reason"] if revoked else None
            at = _epoch(revoked["at"]) if revoked else None
            certificates.append((cid, record["person_id"], record["version"], orjson.dumps(record).decode()))
            for entry in record["dcc"]:
                dccs.append(
                    (
                        entry["uvci"],
                        cid,
                        entry["kid"],
                        # The DCC's issuing country: its `co`, which is its CWT `iss` here.
                        entry.get("co") or entry["iss"],
                        revocation_hash(entry["uvci"]),
                        revocation_hash(entry["iss"] + entry["uvci"]),
                        int(entry["exp"]),
                        reason,
                        at,
                    )
                )
            if record["shc"] is not None:
                card = record["shc"]
                cards.append((card["kid"], card["rid"], cid, int(card["nbf"]), reason, at))
        with self.writing(tracking, after) as sql:
            sql.insert_rows(
                "INSERT INTO {certificates} (certificate_id, person_id, version, record) VALUES {rows} "
                "ON CONFLICT (certificate_id) DO UPDATE SET record = excluded.record",
                certificates,
            )
            sql.insert_rows(
                "INSERT INTO {dcc} (uvci, certificate_id, kid, country, uci, country_uci, expires, reason, "
                "revoked_epoch) VALUES {rows} ON CONFLICT (uvci) DO UPDATE SET "
                "reason = excluded.reason, revoked_epoch = excluded.revoked_epoch",
                dccs,
            )
            sql.insert_rows(
                "INSERT INTO {shc} (kid, rid, certificate_id, nbf, reason, revoked_epoch) VALUES {rows} "
                "ON CONFLICT (kid, rid) DO UPDATE SET "
                "reason = excluded.reason, revoked_epoch = excluded.revoked_epoch",
                cards,
            )


def _cursor_of(epoch: float, uvci: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([epoch, uvci])).decode().rstrip("=")


def _cursor(cursor: str | None) -> tuple[float, str]:
    """(revocation time, UVCI) after which a page starts; the start of the list for None."""
    if cursor is None:
        return -1.0, ""
    try:
        epoch, uvci = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(epoch, bool) or not isinstance(epoch, int | float) or not isinstance(uvci, str):
            raise ValueError(cursor)
        if "\0" in uvci:  # no UVCI of this list's, and PostgreSQL takes no NUL in a text
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise InvalidValue("cursor", "is not a cursor this list gave") from None
    return float(epoch), uvci


class Issuances(PagedProjection[IssuancesView]):
    handles = (Issuance.Issued, Issuance.Revoked)
    view_class = IssuancesView

    def process_page(self, events: list[Any], tracking: Tracking, after: int | None) -> None:
        revoked = sorted({str(e.originator_id) for e in events if isinstance(e, Issuance.Revoked)})
        records = self.view.load(revoked)
        touched = fold_issuances(events, records)
        self.view.save({cid: records[cid] for cid in touched}, tracking, after)
