"""Many writers, retries everywhere: nothing lost, nothing doubled."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

from ledger.values import Actor
from tests.test_ledger import lan

THREADS, PER_THREAD, PEOPLE = 8, 250, 20


def test_eight_writers_sending_every_dose_twice_store_each_dose_once(ledger):
    people = [
        ledger.register_person(lan(national_id=f"0791{n:08d}", full_name=f"Người {n}")).person_id
        for n in range(PEOPLE)
    ]

    def site_system(thread: int) -> list[str]:
        rng = random.Random(thread)
        outcomes = []
        for n in range(PER_THREAD):
            request = dict(
                site_id=f"SITE-{thread}",
                site_record_id=f"{thread}-{n}",
                vaccine=rng.choice(["Pfizer", "AstraZeneca", "Vero Cell"]),
                administered_at=f"2021-{rng.randint(7, 12):02d}-{rng.randint(1, 28):02d}",
                person_id=rng.choice(people),
                actor=Actor(f"site-{thread}", "site"),
            )
            for _ in range(2):  # the network ate the first answer: send it again
                receipt = ledger.record_dose(**request)  # no error may escape
                outcomes.append("duplicate" if receipt.duplicate else "created")
        return outcomes

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = [o for result in pool.map(site_system, range(THREADS)) for o in result]

    recorded = [e for pid in people for e in ledger.events.get(pid) if type(e).__name__ == "DoseRecorded"]
    assert len(recorded) == THREADS * PER_THREAD
    assert len({e.dose_id for e in recorded}) == THREADS * PER_THREAD
    assert outcomes.count("created") == THREADS * PER_THREAD
    assert outcomes.count("duplicate") == THREADS * PER_THREAD
