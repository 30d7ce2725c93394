"""Two ways to make (site_id, site_record_id) unique, measured side by side on one database.

A. an index aggregate (ledger/keys.py SiteRecord): its id is the uuid5 of the key, saved in
   the same transaction as the dose; a look-up is a repository.get.
B. an idempotency-key table written by a recorder subclass in the same transaction; a look-up
   is one SELECT.
Each dose: look the key up (a miss), then save the person's new event together with the key.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from typing import Any

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic
from psycopg.sql import SQL, Identifier

from ledger.keys import dose_id_for
from store.url import is_postgres, persistence_env


class Holder(Aggregate):
    @event("Registered")
    def __init__(self) -> None:
        self.doses: list[str] = []

    @event("DoseRecorded")
    def record(self, dose_id: uuid.UUID) -> None:
        self.doses.append(str(dose_id))


class Claim(Aggregate):
    @event("Claimed")
    def __init__(self, person_id: uuid.UUID) -> None:
        self.person_id = person_id


# @event makes the class as Claim itself is made, so mypy does not see it as an attribute.
CLAIMED = vars(Claim)["Claimed"]


class SQLiteKeyRecorder(SQLiteApplicationRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS dose_keys (key TEXT PRIMARY KEY, person_id TEXT)",
        ]

    def _insert_events(self, c: Any, stored_events: Any, **kwargs: Any) -> Any:
        if key := kwargs.get("dose_key"):
            c.execute("INSERT INTO dose_keys VALUES (?, ?)", key)
        return super()._insert_events(c, stored_events, **kwargs)

    def find_key(self, key: str) -> bool:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT person_id FROM dose_keys WHERE key = ?", (key,))
            return c.fetchone() is not None


class PostgresKeyRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        table = Identifier(self.events_table_name.removesuffix("_events") + "_dose_keys")
        schema = Identifier(self.datastore.schema)
        self.sql_create_statements.append(
            SQL("CREATE TABLE IF NOT EXISTS {0}.{1} (key text PRIMARY KEY, person_id text)").format(
                schema, table
            )
        )
        self.insert_key = SQL("INSERT INTO {0}.{1} VALUES (%s, %s)").format(schema, table)
        self.select_key = SQL("SELECT person_id FROM {0}.{1} WHERE key = %s").format(schema, table)

    def _insert_events(self, curs: Any, stored_events: Any, **kwargs: Any) -> None:
        if key := kwargs.get("dose_key"):
            curs.execute(self.insert_key, key, prepare=True)
        super()._insert_events(curs, stored_events, **kwargs)

    def find_key(self, key: str) -> bool:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_key, (key,), prepare=True)
            return curs.fetchone() is not None


class WithIndexAggregate(Application[uuid.UUID]):
    name = "KeysA"


class WithKeyTable(Application[uuid.UUID]):
    name = "KeysB"


def run_a(url: str, n: int, run: int) -> float:
    app = WithIndexAggregate(env=persistence_env(url))
    people = [Holder() for _ in range(20)]
    app.save(*people)
    started = time.perf_counter()
    for i in range(n):
        dose_id = dose_id_for("A", f"{run}-{i}")
        try:
            app.repository.get(dose_id)
        except AggregateNotFoundError:
            pass
        person = people[i % 20]
        person.record(dose_id)
        app.save(person, Claim._create(CLAIMED, id=dose_id, person_id=person.id))
    rate = n / (time.perf_counter() - started)
    app.close()
    return rate


def run_b(url: str, n: int, run: int) -> float:
    recorder = PostgresKeyRecorder if is_postgres(url) else SQLiteKeyRecorder
    app = WithKeyTable(env={**persistence_env(url), "APPLICATION_RECORDER_TOPIC": get_topic(recorder)})
    keys = app.recorder
    assert isinstance(keys, (PostgresKeyRecorder, SQLiteKeyRecorder))  # the topic given above
    people = [Holder() for _ in range(20)]
    app.save(*people)
    started = time.perf_counter()
    for i in range(n):
        key = f"B/{run}-{i}"
        keys.find_key(key)
        person = people[i % 20]
        person.record(dose_id_for("B", f"{run}-{i}"))
        app.save(person, dose_key=(key, str(person.id)))
    rate = n / (time.perf_counter() - started)
    app.close()
    return rate


def measure(url: str, n: int = 1000, repeats: int = 3) -> dict[str, float]:
    a, b = [], []
    for r in range(repeats):  # interleaved, so drift on a shared machine hits both alike
        a.append(run_a(url, n, r))
        b.append(run_b(url, n, r))
    return {
        "index_aggregate_per_s": statistics.median(a),
        "key_table_per_s": statistics.median(b),
        "key_table_over_index": statistics.median(b) / statistics.median(a),
    }


if __name__ == "__main__":
    for url in sys.argv[1:]:
        print(url.split(":")[0], {k: round(v, 2) for k, v in measure(url).items()})
