"""What the store takes on disk, per stored event and per person, measured (docs/SCALE.md).

`python -m bench.footprint [--people N] [sqlite|postgresql ...]` seeds a fresh store with a
realistic mix and prints what its tables, with their indexes and TOAST, take:

- people registered by the site that gave their first dose (every personal field: name, birth
  date, sex, national id for four in five, phone, province, district, address; sealed with the
  person's data key), then doses up to three on average (1–5 each, in campaign order);
- corrections: 2 % of the doses amended (the lot), 1 % voided, 1 % of the people's details
  corrected (a new phone), 0.5 % filing a correction request (at least one of each);
- every view rebuilt from those events, and one access-log row per person (a certificate read).

The events are grouped by topic, each topic's share of the table's heap by its rows' stored
size and of the indexes by its row count, so a national model can weigh registrations, doses
and corrections by its own mix. On PostgreSQL it also measures the key table a future version
could keep instead of the key streams (one row per site record / national id / identity key
under a unique index), and, with `--wal`, what each kind of write puts in the WAL
(`bench.wal`). The run's sizes are `pg_total_relation_size` on PostgreSQL and SQLite's
`dbstat` pages; a view's tables kept aside for a rebuild are counted with it (empty between
rebuilds: a few pages each).
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.figures import Result
from bench.http import store
from bench.sealing import ledger_on
from bench.signing import temporary_keys
from ledger.values import Actor
from projections.running import rebuild, start_embedded
from projections.views import PROJECTIONS, open_views
from store.access_log import AccessRow, access_log_table
from store.data_keys import ERASURE_TABLE, KEY_TABLE
from store.key_migrations import MIGRATIONS as MIGRATIONS_TABLE
from store.person_keys import IDENTITY_TABLE
from store.person_keys import TABLE as NATIONAL_ID_TABLE
from store.site_records import TABLE as SITE_RECORD_TABLE
from store.url import is_postgres
from usecases.application import DoseLedger

ADMIN = Actor("bench-footprint", "admin")
PROVINCES = {
    "01": ["Ba Đình", "Đống Đa"],
    "79": ["Quận 1", "Gò Vấp"],
    "48": ["Hải Châu"],
    "92": ["Ninh Kiều"],
}
VACCINES = ["EU/1/21/1529", "EU/1/20/1528", "BBIBP-CorV", "EU/1/20/1507"]
DOSES_PER_PERSON = ([1, 2, 3, 4, 5], [10, 20, 35, 25, 10])  # 3.05 on average
BATCH = 1000
ISSUE_TIMEOUT = 600  # seconds for a round's versions to be signed (2 ms or so each)
KEY_TABLE_NAME = "footprint_unique_keys"  # made, measured and dropped by `key_table`


@dataclass
class Footprint:
    """A seeded store's bytes: `groups` maps events / data keys / access log / each view /
    other to {heap, indexes, toast, total}; `topics` each event topic to (rows, stored bytes)."""

    store: str
    mix: Counter[str]
    events: int
    groups: dict[str, dict[str, int]]
    topics: dict[str, tuple[int, int]]
    key_table: dict[str, int] = field(default_factory=dict)
    rebuild_events_per_s: float = 0.0

    @property
    def people(self) -> int:
        return self.mix["people"]

    def total(self, group: str) -> int:
        return self.groups.get(group, {}).get("total", 0)

    def per_event(self) -> float:
        return self.total("events") / self.events

    def per_person(self, group: str) -> float:
        return self.total(group) / self.people

    def views_per_person(self) -> float:
        return sum(self.total(name) for name in PROJECTIONS) / self.people

    def per_topic(self) -> dict[str, float]:
        """Each topic's bytes per stored event: its share of the heap and TOAST by stored size,
        of the indexes by rows (every row has one entry in each index)."""
        events = self.groups["events"]
        stored = sum(size for _, size in self.topics.values())
        rows = sum(n for n, _ in self.topics.values())
        body = events["heap"] + events["toast"]
        return {
            topic: (body * size / stored + events["indexes"] * n / rows) / n
            for topic, (n, size) in self.topics.items()
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "mix": dict(self.mix),
            "events": self.events,
            "groups": self.groups,
            "topics": {t: {"rows": n, "stored_bytes": s} for t, (n, s) in self.topics.items()},
            "bytes_per_event": self.per_event(),
            "bytes_per_topic_event": self.per_topic(),
            "key_table": self.key_table,
            "rebuild_events_per_s": self.rebuild_events_per_s,
        }


# --- the mix --------------------------------------------------------------------------------------


def person_details(rng: random.Random, k: int) -> dict[str, Any]:
    province = rng.choice(list(PROVINCES))
    sex = rng.choice(["male", "female"])
    middle = "Văn" if sex == "male" else "Thị"
    details = {
        "full_name": f"{rng.choice(['Nguyễn', 'Trần', 'Lê', 'Phạm'])} {middle} Người {k}",
        "birth_date": (date(1940, 1, 1) + timedelta(days=rng.randint(0, 365 * 65))).isoformat(),
        "sex": sex,
        "phone": f"09{rng.randint(10_000_000, 99_999_999)}",
        "province": province,
        "district": rng.choice(PROVINCES[province]),
        "address": f"{rng.randint(1, 300)} đường {rng.choice(['Lê Lợi', 'Trần Phú', 'Hùng Vương'])}",
    }
    if rng.random() < 0.8:
        details["national_id"] = f"{province:0>3}{k:09d}"
    return details


def seed(url: str, people: int, rng_seed: int = 2021, sealed: bool = True) -> tuple[Counter[str], list[str]]:
    """The mix above, written through the ledger as sites and citizens would write it, with a
    projector signing each certificate version as it becomes current (and revoking the one it
    supersedes), as a deployment's does; the mix's counts and the people's ids. `sealed` False:
    personal fields in clear (bench.sealing's switch), to tell what sealing adds."""
    rng = random.Random(rng_seed)
    mix: Counter[str] = Counter()
    sites = [f"{p}-TYT-{n:03d}" for p in PROVINCES for n in range(1, 4)]
    with ledger_on(url, sealed) as ledger, issuing(url, ledger) as issued:
        for site in sites:
            province = site[:2]
            ledger.register_site(
                site, name=f"Trạm Y tế {site}", kind="official", province=province, actor=ADMIN
            )
        wanted = [rng.choices(*DOSES_PER_PERSON)[0] for _ in range(people)]
        ids: list[str] = []
        doses: list[tuple[str, str]] = []  # (dose id, person id)
        for round_ in range(max(wanted)):
            items: list[dict[str, Any]] = []
            for k, count in enumerate(wanted):
                if count <= round_:
                    continue
                item: dict[str, Any] = {
                    "site_id": rng.choice(sites),
                    "site_record_id": f"FP-{k}-{round_}",
                    "vaccine": rng.choice(VACCINES),
                    "lot": f"L{rng.randint(1000, 9999)}",
                    "administered_at": (date(2021, 3, 1) + timedelta(days=round_ * 60 + k % 50)).isoformat(),
                }
                if round_ == 0:
                    item["person"] = person_details(rng, k)
                else:
                    item["person_id"] = ids[k]
                items.append(item)
            for start in range(0, len(items), BATCH):
                outcomes = ledger.record_doses(items[start : start + BATCH], actor=ADMIN)
                for outcome in outcomes:
                    if outcome.receipt is None:
                        raise RuntimeError(f"the footprint's seed was refused: {outcome.error}")
                    doses.append((str(outcome.receipt.dose_id), str(outcome.receipt.person_id)))
                    if round_ == 0:
                        ids.append(str(outcome.receipt.person_id))
            mix["doses"] += len(items)
            issued()  # each round's versions signed before the next round supersedes them
        mix["people"] = people
        for dose_id, _ in rng.sample(doses, max(1, len(doses) * 2 // 100)):
            ledger.amend_dose(dose_id, {"lot": f"L{rng.randint(1000, 9999)}"}, "lot mistyped", actor=ADMIN)
            mix["amendments"] += 1
        for dose_id, _ in rng.sample(doses, max(1, len(doses) // 100)):
            ledger.void_dose(dose_id, "entered in error", actor=ADMIN)
            mix["voids"] += 1
        for person_id in rng.sample(ids, max(1, people // 100)):
            ledger.correct_details(
                person_id, {"phone": f"08{rng.randint(10_000_000, 99_999_999)}"}, "new phone", actor=ADMIN
            )
            mix["detail corrections"] += 1
        portal = Actor("bench-portal", "portal")
        for person_id in rng.sample(ids, max(1, people // 200)):
            claim = {"vaccine": "Pfizer", "administered_at": "2021-08-01", "site_id": sites[0]}
            ledger.request_correction(person_id, "missing_dose", claim, contact="hotline", actor=portal)
            mix["correction requests"] += 1
        issued()
        log = access_log_table(ledger.recorder.datastore)
        log.create_table()
        now = datetime.now(UTC)
        reader = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        rows = [AccessRow(now, reader, "site", person_id, "certificate", "203.0.113.7") for person_id in ids]
        for start in range(0, len(rows), BATCH):
            log.insert(rows[start : start + BATCH])
        mix["access-log rows"] = len(rows)
    return mix, ids


@contextmanager
def issuing(url: str, ledger: DoseLedger) -> Iterator[Callable[[], None]]:
    """A projector signing with keys of the run's own; the callable waits until the views have
    caught up with the ledger and every current certificate version is signed."""
    from cli.certificates import signing_from_env

    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as folder, temporary_keys(Path(folder)):
        projector = start_embedded(url, sign=signing_from_env())
        views = open_views(url)

        def issued() -> None:
            deadline = time.monotonic() + ISSUE_TIMEOUT
            while True:
                head = ledger.head()
                if not views.wait(head, timeout=max(deadline - time.monotonic(), 0.1)):
                    raise RuntimeError(f"the views did not catch up within {ISSUE_TIMEOUT} s")
                current = {c["certificate_id"] for c in views.certificates.every()} - {None}
                if (
                    current <= {r["certificate_id"] for r in views.issuances.every()}
                    and ledger.head() == head
                ):
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the issuer did not sign every version within {ISSUE_TIMEOUT} s")
                time.sleep(0.1)

        try:
            yield issued
        finally:
            projector.stop()
            views.close()


# --- the bytes ------------------------------------------------------------------------------------


def group_of(table: str, events_table: str) -> str:
    if table == events_table:
        return "events"
    if table in (KEY_TABLE, ERASURE_TABLE):
        return "data keys"
    if table in (SITE_RECORD_TABLE, MIGRATIONS_TABLE):
        return "site-record keys"
    if table == NATIONAL_ID_TABLE:
        return "national-id keys"
    if table == IDENTITY_TABLE:
        return "identity keys"
    if table.startswith("access_log"):
        return "access log"
    for name in PROJECTIONS:
        if table.startswith(f"{name}_"):
            return name
    return "other"


def measure(url: str, mix: Counter[str]) -> Footprint:
    """The seeded store's tables, grouped; rebuilding every view first, as a fresh copy has it."""
    runs = rebuild(url, "all", progress=False)
    vacuumed(url)
    with DoseLedger(env={"DOSELEDGER_DATABASE_URL": url}) as ledger:
        recorder: Any = ledger.recorder
        events_table = recorder.events_table_name
        measured = _postgres_sizes if is_postgres(url) else _sqlite_sizes
        sizes, topics = measured(recorder.datastore, events_table)
    groups: dict[str, dict[str, int]] = {}
    for table, parts in sizes.items():
        group = groups.setdefault(group_of(table, events_table), dict.fromkeys(parts, 0))
        for part, size in parts.items():
            group[part] += size
    footprint = Footprint(
        store="postgresql" if is_postgres(url) else "sqlite",
        mix=mix,
        events=sum(n for n, _ in topics.values()),
        groups=groups,
        topics=topics,
        rebuild_events_per_s=runs[0].events_per_second,
    )
    if is_postgres(url):
        footprint.key_table = key_table(url)
    return footprint


def _postgres_sizes(
    datastore: Any, events_table: str
) -> tuple[dict[str, dict[str, int]], dict[str, tuple[int, int]]]:
    with datastore.transaction(commit=False) as c:
        c.execute(
            "SELECT c.relname AS name, pg_relation_size(c.oid) AS heap, pg_indexes_size(c.oid) AS indexes, "
            "pg_total_relation_size(c.oid) AS total FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
            (datastore.schema,),
        )
        sizes = {
            r["name"]: {
                "heap": r["heap"],
                "indexes": r["indexes"],
                "toast": r["total"] - r["heap"] - r["indexes"],
                "total": r["total"],
            }
            for r in c.fetchall()
        }
        c.execute(
            f'SELECT topic, count(*) AS n, sum(pg_column_size(e.*)) AS size FROM "{datastore.schema}".'
            f'"{events_table}" e GROUP BY topic'
        )
        topics = {r["topic"]: (int(r["n"]), int(r["size"])) for r in c.fetchall()}
    return sizes, topics


def _sqlite_sizes(
    datastore: Any, events_table: str
) -> tuple[dict[str, dict[str, int]], dict[str, tuple[int, int]]]:
    with datastore.transaction(commit=False) as c:
        c.execute("SELECT name, tbl_name, type FROM sqlite_master WHERE type IN ('table', 'index')")
        owner = {r[0]: (r[1], r[2]) for r in c.fetchall()}
        c.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")
        sizes: dict[str, dict[str, int]] = {}
        for name, size in c.fetchall():
            if name not in owner:  # sqlite_schema itself
                continue
            table, kind = owner[name]
            parts = sizes.setdefault(table, {"heap": 0, "indexes": 0, "toast": 0, "total": 0})
            parts["heap" if kind == "table" else "indexes"] += size
            parts["total"] += size
        c.execute(
            f"SELECT topic, count(*), sum(length(originator_id) + length(topic) + length(state) + 8) "
            f"FROM {events_table} GROUP BY topic"
        )
        topics = {r[0]: (int(r[1]), int(r[2])) for r in c.fetchall()}
    return sizes, topics


def key_table(url: str) -> dict[str, int]:
    """The key streams' rows as a key table would hold them: the key (the stream's uuid) and the
    holder (a uuid), under a unique index; made from the store's key events, measured, dropped."""
    with DoseLedger(env={"DOSELEDGER_DATABASE_URL": url}) as ledger:
        recorder: Any = ledger.recorder
        schema = recorder.datastore.schema
        table = f'"{schema}".{KEY_TABLE_NAME}'
        with recorder.datastore.transaction(commit=True) as c:
            c.execute(f"CREATE TABLE {table} (key uuid PRIMARY KEY, holder uuid NOT NULL)")
            c.execute(
                f"INSERT INTO {table} SELECT originator_id, originator_id FROM "
                f'"{schema}"."{recorder.events_table_name}" WHERE topic LIKE %s AND originator_version = 1',
                ("ledger.keys:%",),
            )
            c.execute(
                f"SELECT count(*) AS n, pg_total_relation_size('{table}'::regclass) AS total, "
                f"pg_indexes_size('{table}'::regclass) AS indexes FROM {table}"
            )
            row = c.fetchone()
            c.execute(f"DROP TABLE {table}")
    assert row is not None
    return {"rows": int(row["n"]), "total": int(row["total"]), "indexes": int(row["indexes"])}


def vacuumed(url: str) -> None:
    """VACUUM (ANALYZE) the store's tables: sizes as a store that has run a while has them."""
    if not is_postgres(url):
        return
    import psycopg

    from store.url import persistence_env

    env = persistence_env(url)
    with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
        tables = conn.execute(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
            "WHERE schemaname = %s",
            (env["POSTGRES_SCHEMA"],),
        ).fetchall()
        for (name,) in tables:
            conn.execute(f"VACUUM (ANALYZE) {name}")


def footprint(url: str, people: int, sealed: bool = True) -> Footprint:
    return measure(url, seed(url, people, sealed=sealed)[0])


# --- the bench suite's rows -----------------------------------------------------------------------


def into(result: Result, kind: str, people: int) -> Footprint:
    with store(kind) as url:
        found = footprint(url, people)
    result.add(
        "footprint_event_bytes",
        "footprint: events table + indexes, per stored event",
        "bytes",
        [found.per_event()],
    )
    result.add(
        "footprint_events_per_person",
        "  events stored per person (the mix)",
        "events",
        [found.events / found.people],
    )
    result.add("footprint_person_events_bytes", "  events, per person", "bytes", [found.per_person("events")])
    result.add(
        "footprint_views_bytes", "footprint: all views, per person", "bytes", [found.views_per_person()]
    )
    for name in PROJECTIONS:
        result.add(f"footprint_view_{name}", f"  {name} view, per person", "bytes", [found.per_person(name)])
    result.add(
        "footprint_data_keys_bytes",
        "footprint: data keys, per person",
        "bytes",
        [found.per_person("data keys")],
    )
    result.add(
        "footprint_access_row_bytes",
        "footprint: access log, per row",
        "bytes",
        [found.total("access log") / found.mix["access-log rows"]],
    )
    return found


def report(found: Footprint) -> str:
    lines = [f"[{found.store}] mix: {dict(found.mix)}; {found.events:,} events"]
    for group, parts in sorted(found.groups.items()):
        per = parts["total"] / found.people
        lines.append(f"  {group:<12} {parts['total']:>12,} B  {per:>8,.0f} B/person  {parts}")
    lines.append(
        f"  events: {found.per_event():,.0f} B/event; views {found.views_per_person():,.0f} B/person"
    )
    for topic, size in sorted(found.per_topic().items()):
        n, stored = found.topics[topic]
        lines.append(
            f"    {topic:<45} {n:>8,} rows  {stored / n:>6,.0f} B stored  {size:>6,.0f} B with its share"
        )
    if found.key_table:
        kt = found.key_table
        lines.append(f"  key table: {kt['rows']:,} rows, {kt['total'] / kt['rows']:,.0f} B/row ({kt})")
    lines.append(f"  rebuild --all: {found.rebuild_events_per_s:,.0f} events/s")
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stores", nargs="*", default=["postgresql"])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--unsealed", action="store_true", help="personal fields in clear (a comparison)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    found = {}
    for kind in args.stores:
        with store(kind) as url:
            found[kind] = footprint(url, args.people, sealed=not args.unsealed)
            print(report(found[kind]), flush=True)
    if args.json:
        args.json.write_text(json.dumps({k: f.as_dict() for k, f in found.items()}, indent=1))
    sys.exit(0)
