"""The list module (api/listing.py) on its own: cursors, formats, limits, exports, on a small
app over rows in memory. The lists of the API are tested on both stores beside their routes
(tests/api/test_lists.py)."""

from __future__ import annotations

import base64
import csv
import io
from typing import Any

import orjson
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from starlette.responses import Response

from api import listing, problems
from api.listing import Column, Listing, PageQuery, answer

TALLIES = Listing[dict[str, Any]](
    name="tallies",
    columns=(Column("code", "Code"), Column("day", "Day"), Column("n", "Count"), Column("note", "Note")),
    key=lambda row: (row["code"],),
    to_dict=dict,
    key_types=(str,),
)


class Table:
    """Rows kept sorted by code, fetched after a key as a view's keyset query would."""

    def __init__(self, n: int) -> None:
        self.rows = [self.row(i * 10) for i in range(n)]
        self.seen: list[list[dict[str, Any]]] = []
        self.on_fetch: Any = None

    @staticmethod
    def row(i: int) -> dict[str, Any]:
        return {"code": f"c{i:06d}", "day": "2021-08-01", "n": i, "note": f"Nguyễn {i}"}

    def fetch(self, after: tuple[Any, ...] | None, limit: int) -> list[dict[str, Any]]:
        if self.on_fetch is not None:
            self.on_fetch()
        chosen = [r for r in self.rows if after is None or (r["code"],) > after]
        return sorted(chosen, key=lambda r: r["code"])[:limit]


@pytest.fixture
def table() -> Table:
    return Table(250)


@pytest.fixture
def client(table: Table) -> TestClient:
    app = FastAPI()
    problems.install(app)

    @app.get("/tallies")
    def tallies(request: Request, page: PageQuery) -> Response:
        return answer(request, TALLIES, page, table.fetch, seen=table.seen.append)

    return TestClient(app)


def walk_json(client: TestClient, url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while url:
        r = client.get(url)
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["items"]
        if body["next_cursor"] is None:
            assert "link" not in r.headers
            break
        assert r.headers["link"].endswith('>; rel="next"')
        url = r.headers["link"][1 : r.headers["link"].index(">")]
        assert f"cursor={body['next_cursor']}" in url
    return items


def test_pages_walk_every_row_once_in_order(client: TestClient, table: Table) -> None:
    first = client.get("/tallies").json()
    assert len(first["items"]) == listing.DEFAULT_LIMIT
    assert walk_json(client, "/tallies?limit=7") == table.rows


def test_rows_added_during_a_walk_are_seen_once_or_not_at_all(client: TestClient, table: Table) -> None:
    before = list(table.rows)
    added: list[dict[str, Any]] = []

    def add_some() -> None:  # each fetch, a row before the cursor's end and one after
        for i in (len(added) * 10 + 1, 10_000 + len(added)):
            row = table.row(i)
            added.append(row)
            table.rows.append(row)

    table.on_fetch = add_some
    walked = walk_json(client, "/tallies?limit=9")
    codes = [r["code"] for r in walked]
    assert codes == sorted(codes) and len(codes) == len(set(codes))
    assert all(r in walked for r in before)
    assert all(r in before or r in added for r in walked)


def test_a_cursor_holds_the_key_and_the_list_only(client: TestClient) -> None:
    cursor = client.get("/tallies?limit=3").json()["next_cursor"]
    version, body = cursor.split(".")
    assert version == "v1"
    assert orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))) == ["tallies", "c000020"]


@pytest.mark.parametrize(
    "cursor",
    [
        "nonsense",
        "v1.!!!",
        "v2." + base64.urlsafe_b64encode(b'["tallies","c000020"]').decode(),
        "v1." + base64.urlsafe_b64encode(b'["sites","c000020"]').decode(),
        "v1." + base64.urlsafe_b64encode(b'["tallies",{"a":1}]').decode(),
        "v1." + base64.urlsafe_b64encode(b'{"a":1}').decode(),
        "v1." + base64.urlsafe_b64encode(b'["tallies","c000020","x"]').decode(),
        "v1." + base64.urlsafe_b64encode(b'["tallies",20]').decode(),
    ],
)
def test_a_bad_cursor_is_named(client: TestClient, cursor: str) -> None:
    r = client.get("/tallies", params={"cursor": cursor})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"), ("format=pdf", "format")],
)
def test_a_bad_limit_or_format_is_named(client: TestClient, query: str, field: str) -> None:
    r = client.get(f"/tallies?{query}")
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["query", field]


def read_csv(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_csv_is_the_whole_list_as_json_has_it(client: TestClient, table: Table) -> None:
    r = client.get("/tallies?format=csv&limit=5")  # an export ignores limit
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"].startswith('attachment; filename="tallies-')
    rows = read_csv(r.content)
    assert rows[0] == ["Code", "Day", "Count", "Note"]
    json_rows = walk_json(client, "/tallies?limit=1000")
    assert rows[1:] == [[r["code"], r["day"], str(r["n"]), r["note"]] for r in json_rows]
    assert len(rows) - 1 == len(table.rows)


def test_xlsx_reads_back_as_the_json(client: TestClient) -> None:
    r = client.get("/tallies", headers={"Accept": listing.XLSX_TYPE})
    assert r.status_code == 200
    assert r.headers["content-type"] == listing.XLSX_TYPE
    assert r.headers["content-disposition"].endswith('.xlsx"')
    sheet = load_workbook(io.BytesIO(r.content), read_only=True).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == ["Code", "Day", "Count", "Note"]
    assert rows[1:] == [
        [r["code"], r["day"], r["n"], r["note"]] for r in walk_json(client, "/tallies?limit=1000")
    ]


def test_an_export_starts_after_its_cursor(client: TestClient, table: Table) -> None:
    cursor = client.get("/tallies?limit=200").json()["next_cursor"]
    rows = read_csv(client.get("/tallies", params={"cursor": cursor, "format": "csv"}).content)
    assert [r[0] for r in rows[1:]] == [r["code"] for r in table.rows[200:]]


def test_accept_chooses_by_preference_and_format_wins(client: TestClient) -> None:
    assert (
        client.get("/tallies", headers={"Accept": "text/csv"}).headers["content-type"].startswith("text/csv")
    )
    both = "application/json;q=0.5, text/csv;q=0.9"
    assert client.get("/tallies", headers={"Accept": both}).headers["content-type"].startswith("text/csv")
    assert client.get("/tallies?format=json", headers={"Accept": "text/csv"}).json()["items"]
    assert client.get("/tallies", headers={"Accept": "*/*"}).json()["items"]


def test_every_row_answered_was_seen_first(client: TestClient, table: Table) -> None:
    client.get("/tallies?limit=10")
    assert [r["code"] for r in table.seen[0]] == [r["code"] for r in table.rows[:10]]
    table.seen.clear()
    client.get("/tallies?format=xlsx")
    assert sum(len(p) for p in table.seen) == len(table.rows)


def test_a_formula_is_text_in_both_files(client: TestClient, table: Table) -> None:
    table.rows[0]["note"] = "=HYPERLINK(1)"
    assert read_csv(client.get("/tallies?format=csv").content)[1][3] == "'=HYPERLINK(1)"
    sheet = load_workbook(io.BytesIO(client.get("/tallies?format=xlsx").content)).active
    assert sheet.cell(2, 4).data_type == "s"
    assert sheet.cell(2, 4).value == "=HYPERLINK(1)"
