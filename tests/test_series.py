"""The incremental evaluator gives exactly what a fresh evaluation gives, whatever changed."""

from __future__ import annotations

import random
from datetime import date, timedelta

from ledger.series import Evaluator, evaluate

VACCINES = ["EU/1/20/1528", "EU/1/20/1525", "Abdala", "CoronaVac", "not-in-the-catalog"]


def test_an_evaluator_kept_across_changes_agrees_with_a_fresh_evaluation_at_every_step():
    rng = random.Random(8)
    for _ in range(40):  # walks
        evaluator, doses, birth, seq = Evaluator(), {}, "1990-01-01", 0
        for _ in range(60):  # changes, in place as Person's events make them
            move = rng.random()
            if move < 0.45 or not doses:
                seq += 1
                day = date(2021, 3, 1) + timedelta(days=rng.randrange(0, 400))
                doses[f"d{seq}"] = {
                    "dose_id": f"d{seq}",
                    "vaccine": rng.choice(VACCINES),
                    "administered_at": f"{day.isoformat()}T09:00:00+07:00",
                    "seq": seq,
                    "reported_dose_number": rng.choice([None, 1, 2, 3]),
                    "voided": False,
                }
            else:
                dose = doses[rng.choice(sorted(doses))]
                if move < 0.6:
                    dose["voided"] = True
                elif move < 0.7:
                    dose["administered_at"] = (
                        f"{date(2021, 2, 1) + timedelta(days=rng.randrange(0, 400))}T08:00:00+07:00"
                    )
                elif move < 0.8:
                    dose["vaccine"] = rng.choice(VACCINES)
                elif move < 0.88:
                    dose["reported_dose_number"] = rng.choice([None, 1, 2, 3])
                elif move < 0.94:
                    birth = rng.choice(["1990-01-01", "2021-06-01", None])
                else:  # a merge's copy: an equal dict that is another object
                    doses[dose["dose_id"]] = dict(dose)
            got, fresh = evaluator(doses.values(), birth), evaluate(doses.values(), birth)
            assert got == fresh
            # The very dose objects, not equal copies: their other fields (the lot) are read later.
            assert all(a.dose is b.dose for a, b in zip(got.doses, fresh.doses, strict=True))


def test_an_evaluation_once_given_is_not_changed_by_later_calls():
    evaluator = Evaluator()
    doses = {
        "a": {
            "dose_id": "a",
            "vaccine": "EU/1/20/1528",
            "administered_at": "2021-03-01",
            "seq": 1,
            "voided": False,
        }
    }
    first = evaluator(doses.values())
    doses["b"] = {
        "dose_id": "b",
        "vaccine": "EU/1/20/1528",
        "administered_at": "2021-03-05",
        "seq": 2,
        "voided": False,
    }
    second = evaluator(doses.values())
    assert (len(first.doses), first.status, first.flags) == (1, "partial", [])
    assert (len(second.doses), second.status, [f["kind"] for f in second.flags]) == (
        2,
        "complete",
        ["interval-too-short"],
    )
