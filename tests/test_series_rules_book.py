"""A new series rules version is an event: adopted one by one, refused whole, on each store."""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.utils import get_topic

from ledger.errors import InvalidValue, NotFound
from ledger.rules_book import RULES_BOOK_ID, SeriesRulesBook
from ledger.series_rules import RulesInvalid, shipped
from ledger.values import Actor
from replay import verify_integrity
from usecases import series_rules
from usecases.application import DoseLedger

VERSION_2 = Path(__file__).with_name("series-rules") / "2.json"
OFFICIAL = Actor("official-1", "admin")


def version(number: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VERSION_2.read_text("utf-8"))
    data["version"] = number
    return data


def book_events(ledger: DoseLedger) -> list[Any]:
    return list(ledger.events.get(RULES_BOOK_ID))


def test_the_shipped_version_is_in_force_until_another_is_adopted(ledger):
    assert series_rules.in_force(ledger) is shipped()
    assert series_rules.version(ledger, 1) is shipped()
    assert [(a.version, a.adopted_at, a.actor) for a in series_rules.adoptions(ledger)] == [(1, None, None)]
    assert book_events(ledger) == []


def test_versions_2_then_3_are_adopted_each_as_an_event(ledger):
    two = series_rules.adopt(ledger, version(2), "boosters after Janssen written 2/2", OFFICIAL)
    assert two.version == 2 and series_rules.in_force(ledger) == two
    three_data = version(3)
    three_data["products"]["Covishield"]["cvx"] = None
    three_data["products"]["CoronaVac"]["series"] = 2
    three = series_rules.adopt(ledger, three_data, "CoronaVac back to two doses", OFFICIAL)
    assert three.version == 3 and three.product("CoronaVac").series == 2

    # Read back by a fresh application: from the store, not from this one's memory.
    with DoseLedger(env={"DOSELEDGER_DATABASE_URL": ledger.env["DOSELEDGER_DATABASE_URL"]}) as other:
        assert series_rules.in_force(other) == three
        assert series_rules.version(other, 2) == two
        assert series_rules.version(other, 2).data == version(2)
        listed = series_rules.adoptions(other)
    assert [(a.version, a.reason) for a in listed] == [
        (1, "shipped with the code"),
        (2, "boosters after Janssen written 2/2"),
        (3, "CoronaVac back to two doses"),
    ]
    assert listed[1].adopted_at is not None and listed[1].adopted_at <= listed[2].adopted_at
    assert listed[2].actor == {"principal_id": "official-1", "role": "admin"}

    events = book_events(ledger)
    assert [type(e).__name__ for e in events] == ["Opened", "Adopted", "Adopted"]
    adopted = events[1]
    assert get_topic(type(adopted)) == "ledger.rules_book:SeriesRulesBook.Adopted"
    assert (adopted.version, adopted.rules, adopted.reason) == (
        2,
        version(2),
        "boosters after Janssen written 2/2",
    )
    assert adopted.actor == OFFICIAL.as_data()


@pytest.mark.parametrize(
    ("data", "reason", "field"),
    [
        (version(3), "skipping one", "version"),
        (version(1), "the shipped one again", "version"),
        (version(2), "  ", "reason"),
        (
            {**version(2), "products": {**version(2)["products"], "EU/1/20/1528": {"series": 2, "vp": "1"}}},
            "bad",
            "products.EU/1/20/1528.ma",
        ),
        ({"version": 2}, "nothing", "source"),
    ],
    ids=["skips a version", "version 1 again", "no reason", "a bad product", "no data"],
)
def test_a_refused_version_stores_nothing_and_names_the_field(ledger, data, reason, field):
    head = ledger.recorder.max_notification_id()
    with pytest.raises(InvalidValue) as refused:
        series_rules.adopt(ledger, data, reason, OFFICIAL)
    assert refused.value.field == field
    assert ledger.recorder.max_notification_id() == head and book_events(ledger) == []
    assert series_rules.in_force(ledger) is shipped()


def test_a_refusal_after_adoptions_leaves_the_version_in_force(ledger):
    two = series_rules.adopt(ledger, version(2), "first change", OFFICIAL)
    bad = version(3)
    bad["products"]["EU/1/20/1528"]["vp"] = "999999"
    with pytest.raises(RulesInvalid, match=r"^products\.EU/1/20/1528\.vp: not in the value set"):
        series_rules.adopt(ledger, bad, "a typo", OFFICIAL)
    with pytest.raises(InvalidValue, match="must be 3: version 2 is in force"):
        series_rules.adopt(ledger, version(2), "again", OFFICIAL)
    assert len(book_events(ledger)) == 2 and series_rules.in_force(ledger) == two
    with pytest.raises(NotFound):
        series_rules.version(ledger, 3)


def test_two_officials_adopting_the_same_version_at_once_adopt_it_once(ledger):
    outcomes: list[object] = []
    start = threading.Barrier(2)

    def adopt(reason: str) -> None:
        start.wait()
        try:
            outcomes.append(series_rules.adopt(ledger, version(2), reason, OFFICIAL).version)
        except InvalidValue as refused:
            outcomes.append(refused.field)

    threads = [threading.Thread(target=adopt, args=(r,)) for r in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(str, outcomes)) == ["2", "version"]
    assert [type(e).__name__ for e in book_events(ledger)] == ["Opened", "Adopted"]


def test_the_book_aggregate_refuses_before_its_event(ledger):  # ledger: hands in the chain key
    book = SeriesRulesBook.open(OFFICIAL.as_data())
    data = version(2)
    book.adopt(data, "one", OFFICIAL.as_data())
    data["version"] = 99  # the event keeps its own copy
    assert book.versions[2]["version"] == 2 and book.in_force == 2
    pending = copy.copy(book.collect_events())
    assert [type(e).__name__ for e in pending] == ["Opened", "Adopted"]
    with pytest.raises(InvalidValue):
        book.adopt(version(2), "twice", OFFICIAL.as_data())
    assert book.collect_events() == []


# --- doseledger rules ---------------------------------------------------------------------------


def test_the_rules_command_shows_adopts_and_lists_versions(cli, ledger, tmp_path):
    code, out, _ = cli("rules", "show")
    assert code == 0 and json.loads(out) == json.loads(
        (Path(__file__).parents[1] / "ledger" / "data" / "series-rules" / "1.json").read_text("utf-8")
    )
    file = tmp_path / "2.json"
    file.write_text(json.dumps(version(2)))
    code, out, _ = cli("rules", "adopt", str(file), "--reason", "boosters after Janssen written 2/2")
    assert (code, out) == (0, "adopted series rules version 2\n")
    code, out, _ = cli("rules", "show")
    assert code == 0 and json.loads(out) == version(2)
    code, out, _ = cli("rules", "show", "--version", "1")
    assert code == 0 and json.loads(out)["version"] == 1
    code, out, _ = cli("rules", "list")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2
    assert lines[0] == "1\tshipped\t-\tshipped with the code"
    assert lines[1].startswith("2\t") and lines[1].endswith("\tboosters after Janssen written 2/2")


def test_the_rules_command_refuses_naming_the_field(cli, ledger, tmp_path):
    again = tmp_path / "1.json"
    again.write_text(json.dumps(version(1)))
    assert cli("rules", "adopt", str(again), "--reason", "x")[:2] == (
        2,
        "doseledger rules adopt: version: must be 2: version 1 is in force, versions follow it one by one\n",
    )
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    code, out, _ = cli("rules", "adopt", str(broken), "--reason", "x")
    assert code == 2 and out.startswith("doseledger rules adopt: file: not JSON")
    code, out, _ = cli("rules", "adopt", str(tmp_path / "absent.json"), "--reason", "x")
    assert code == 2 and out.startswith("doseledger rules adopt: file: cannot be read")
    code, out, _ = cli("rules", "show", "--version", "7")
    assert (code, out) == (2, "doseledger rules show: version: no series rules version 7\n")
    assert book_events(ledger) == []


def test_the_book_is_chained_like_every_stream_and_an_edited_version_is_caught(ledger, rows):
    series_rules.adopt(ledger, version(2), "boosters after Janssen written 2/2", OFFICIAL)
    assert verify_integrity(ledger, RULES_BOOK_ID)["intact"]
    forged = version(2)
    forged["products"]["EU/1/20/1525"]["series"] = 2  # Janssen quietly made a two-dose series
    rows.edit(RULES_BOOK_ID, 2, rules=forged)
    report = verify_integrity(ledger, RULES_BOOK_ID)
    assert not report["intact"] and [f["version"] for f in report["findings"]] == [2]
