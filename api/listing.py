"""Lists for people who read them: keyset pages behind an opaque cursor, and the whole list as
CSV or XLSX, streamed.

A router declares a list once, as a `Listing`: how to fetch the rows after a key
(`(after_key, limit) -> rows`, in the key's order), the key of a row, the columns (name,
header) and the row's JSON dict. `answer()` does the rest:

    PEOPLE = Listing(
        name="people",
        columns=(Column("person_id", "Person id"), Column("full_name", "Full name")),
        key=lambda row: (row["person_id"],),
        to_dict=dict,
    )

    @router.get("/v1/people", response_model=Page[PersonOut])
    def people(request: Request, page: PageQuery, views: Views) -> Response:
        return answer(request, PEOPLE, page, lambda after, limit: views.people(after, limit))

JSON: `{items: [...], next_cursor: str | null}` (the items' key may be another, for a list whose
documented shape already names it), with `Link: <...>; rel="next"` while there is a next page.
`?format=csv|xlsx`, or `Accept: text/csv` / the XLSX media type, answers the whole list as an
attachment: an export walks every page from the cursor on (none: from the start) and ignores
`limit`, so a spreadsheet is never silently a first page.

**The cursor** is `v1.` and the base64url of `[list name, *key]`: opaque to clients, checked on
the way back (version, list, the key's shape; else 422 naming `cursor`). It ends up in URLs and
logs, so **a key never holds personal data**: ids, codes, dates, statuses; never a name, birth
date or phone. A key is unique per row (end it with an id) and `fetch` orders by it, so a walk
sees every row present from start to end exactly once, and rows added meanwhile once or not at
all (after the cursor: seen; before: not), never twice.

**Exports are streamed**: CSV a page at a time; XLSX through openpyxl's write-only workbook
(each row goes to its worksheet's temporary file as it is written, never held as cells), saved
into a spooled temporary file that is then sent in chunks. Memory stays flat however long the
list (figures in the commit that made this module). A list of people calls `seen` with each
page before any byte of it leaves, so every person answered is a recorded read, exports too.
"""

from __future__ import annotations

import base64
import csv
import io
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar
from uuid import UUID

import orjson
from fastapi import Depends, Query, Request
from pydantic import BaseModel
from starlette.responses import Response, StreamingResponse

from api.models import example
from api.problems import Problem, field_error
from api.responses import ORJSON

Row = TypeVar("Row")
Item = TypeVar("Item")
Key = tuple[Any, ...]
Fetch = Callable[[Key | None, int], Sequence[Row]]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
EXPORT_PAGE = 1000  # rows an export fetches at a time
CURSOR_VERSION = "v1"
MAX_CURSOR = 500  # characters; a key of a few ids and codes is far shorter

CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
JSON_TYPE = "application/json"
MEDIA = {"json": JSON_TYPE, "csv": CSV_TYPE, "xlsx": XLSX_TYPE}
Format = Literal["json", "csv", "xlsx"]

# A cell a spreadsheet would run as a formula (OWASP's CSV injection): written with a leading
# apostrophe in CSV, as a plain string cell in XLSX.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    name: str  # the JSON dict's key
    header: str  # the spreadsheet's column title


@dataclass(frozen=True)
class Listing(Generic[Row]):
    """A list as a router declares it. `name` tags its cursors and names its files (so it holds
    nothing personal either). `key(row)` is the row's keyset position: non-personal values only,
    unique per row, and the order `fetch` answers in. `to_dict(row)` is the row on the wire."""

    name: str
    columns: Sequence[Column]
    key: Callable[[Row], Key]
    to_dict: Callable[[Row], dict[str, Any]]
    items_key: str = "items"
    # The type of each of the key's values (str, int): a cursor whose key has another shape is
    # refused naming `cursor` before `fetch` sees it. None: any values of str, int or None.
    key_types: tuple[type, ...] | None = None


@dataclass(frozen=True)
class PageRequest:
    """What the client asked for: a page size, where to start, a format (None: from Accept)."""

    limit: int | None
    cursor: str | None
    format: Format | None


async def page_request(
    limit: Annotated[
        int | None,
        Query(ge=1, le=MAX_LIMIT, description=f"rows a page (default {DEFAULT_LIMIT}; ignored by an export)"),
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=MAX_CURSOR, description="from the previous page's `next_cursor`")
    ] = None,
    format: Annotated[
        Format | None,
        Query(description="json (a page), csv or xlsx (the whole list, as a file); else from Accept"),
    ] = None,
) -> PageRequest:
    return PageRequest(limit, cursor, format)


PageQuery = Annotated[PageRequest, Depends(page_request)]


class Page(BaseModel, Generic[Item]):
    """The JSON answer's shape, for the OpenAPI document (each item's own example is its
    model's; the page's shows the cursor's form)."""

    model_config = example({"items": [], "next_cursor": "v1.WyJwZW9wbGUiLCIwMSJd"})

    items: list[Item]
    next_cursor: str | None = None


# --- cursors -----------------------------------------------------------------------------------


def encode_cursor(listing: Listing[Any], key: Key) -> str:
    payload = orjson.dumps([listing.name, *(_plain(v) for v in key)])
    return f"{CURSOR_VERSION}.{base64.urlsafe_b64encode(payload).rstrip(b'=').decode()}"


def decode_cursor(listing: Listing[Any], cursor: str) -> Key:
    """The key a cursor holds; 422 naming `cursor` for anything this list did not make."""
    version, _, body = cursor.partition(".")
    if version != CURSOR_VERSION or not body:
        raise _bad_cursor("is not a cursor this API made (take it from a page's next_cursor)")
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        raise _bad_cursor("is not a cursor this API made (take it from a page's next_cursor)") from None
    if not isinstance(decoded, list) or not decoded or decoded[0] != listing.name:
        raise _bad_cursor(f"belongs to another list, not {listing.name}")
    key = decoded[1:]
    types = listing.key_types
    if not all(v is None or isinstance(v, str | int) for v in key) or (
        types is not None
        and (len(key) != len(types) or not all(type(v) is t for v, t in zip(key, types, strict=False)))
    ):
        raise _bad_cursor("is not a cursor this API made (take it from a page's next_cursor)")
    return tuple(key)


def _bad_cursor(msg: str) -> Problem:
    return Problem(422, "validation", f"cursor: {msg}", errors=[field_error(["query", "cursor"], msg)])


# --- the answer --------------------------------------------------------------------------------


def chosen_format(request: Request, asked: Format | None) -> Format:
    """`?format=` first; else the most preferred of JSON, CSV and XLSX in Accept; else JSON."""
    if asked is not None:
        return asked
    best: tuple[float, int, Format] = (0.0, 0, "json")
    for place, part in enumerate(request.headers.get("accept", "").split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        for fmt, media_type in MEDIA.items():
            if media.lower() == media_type and (quality, -place) > best[:2]:
                best = (quality, -place, fmt)  # type: ignore[assignment]  # fmt is a Format key
    return best[2]


def answer(
    request: Request,
    listing: Listing[Row],
    page: PageRequest,
    fetch: Fetch[Row],
    *,
    seen: Callable[[list[dict[str, Any]]], None] | None = None,
    extra: dict[str, Any] | None = None,
    filename: str | None = None,
    default_limit: int | None = DEFAULT_LIMIT,
) -> Response:
    """The page asked for as JSON, or the whole list as CSV/XLSX.

    `seen(items)`: called with each page's dicts before they leave (a list of people logs them
    as read there). `extra`: more fields of the JSON answer. `filename`: the export's, without
    extension (default: the list's name); nothing personal. `default_limit=None`: with no
    `limit` and no `cursor` asked, the JSON answer is the whole list without `next_cursor`: the
    body a list answered before it had pages, for clients that never ask for one."""
    after = decode_cursor(listing, page.cursor) if page.cursor else None
    fmt = chosen_format(request, page.format)
    if fmt != "json":
        return export(listing, fetch, fmt, after=after, seen=seen, filename=filename)
    if page.limit is None and page.cursor is None and default_limit is None:
        # The whole list, in the very shape such a list answered before it had pages.
        items = [listing.to_dict(row) for row in walk(listing, fetch, after)]
        if seen is not None:
            seen(items)
        return ORJSON({listing.items_key: items, **(extra or {})})
    limit = page.limit or default_limit or DEFAULT_LIMIT
    rows = list(fetch(after, limit + 1))
    following = encode_cursor(listing, listing.key(rows[limit - 1])) if len(rows) > limit else None
    items = [listing.to_dict(row) for row in rows[:limit]]
    if seen is not None:
        seen(items)
    headers = {}
    if following is not None:
        url = request.url.include_query_params(cursor=following)
        headers["Link"] = f'<{url}>; rel="next"'
    return ORJSON({listing.items_key: items, "next_cursor": following, **(extra or {})}, headers=headers)


def walk(listing: Listing[Row], fetch: Fetch[Row], after: Key | None = None) -> Iterator[Row]:
    """Every row after `after`, a page at a time."""
    while True:
        rows = fetch(after, EXPORT_PAGE)
        yield from rows
        if len(rows) < EXPORT_PAGE:
            return
        after = listing.key(rows[-1])


def pages(
    listing: Listing[Row],
    fetch: Fetch[Row],
    after: Key | None = None,
    seen: Callable[[list[dict[str, Any]]], None] | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """The list's dicts, a page at a time, each `seen` before it is handed on."""
    page: list[dict[str, Any]] = []
    for row in walk(listing, fetch, after):
        page.append(listing.to_dict(row))
        if len(page) == EXPORT_PAGE:
            if seen is not None:
                seen(page)
            yield page
            page = []
    if page:
        if seen is not None:
            seen(page)
        yield page


def export(
    listing: Listing[Row],
    fetch: Fetch[Row],
    fmt: Literal["csv", "xlsx"],
    *,
    after: Key | None = None,
    seen: Callable[[list[dict[str, Any]]], None] | None = None,
    filename: str | None = None,
) -> StreamingResponse:
    name = f"{filename or listing.name}-{date.today().isoformat()}.{fmt}"
    body = pages(listing, fetch, after, seen)
    chunks = csv_chunks(listing.columns, body) if fmt == "csv" else xlsx_chunks(listing.columns, body)
    media = f"{CSV_TYPE}; charset=utf-8" if fmt == "csv" else XLSX_TYPE
    return StreamingResponse(
        chunks,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


# --- the files ---------------------------------------------------------------------------------


def cell(value: Any) -> Any:
    """A value as a spreadsheet cell: dates and ids as text, a list joined, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return ";".join(str(cell(v)) for v in value)
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value


def csv_chunks(columns: Sequence[Column], body: Iterator[list[dict[str, Any]]]) -> Iterator[bytes]:
    """UTF-8 with a byte-order mark (Excel reads Vietnamese names right only with it), a header
    row, then a chunk per page."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.header for c in columns])
    yield ("\ufeff" + out.getvalue()).encode()
    for page in body:
        out.seek(0)
        out.truncate()
        for item in page:
            writer.writerow([_csv_safe(cell(item.get(c.name))) for c in columns])
        yield out.getvalue().encode()


def _csv_safe(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def xlsx_chunks(
    columns: Sequence[Column], body: Iterator[list[dict[str, Any]]], chunk: int = 64 * 1024
) -> Iterator[bytes]:
    """An XLSX from openpyxl's write-only workbook: rows go to the worksheet's temporary file as
    they come; the saved zip is spooled (to disk past a few MiB) and read out in chunks."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("list")
    sheet.append([c.header for c in columns])
    for page in body:
        for item in page:
            values = [cell(item.get(c.name)) for c in columns]
            if any(isinstance(v, str) and v.startswith("=") for v in values):
                row = []
                for v in values:
                    written = WriteOnlyCell(sheet, v)
                    if isinstance(v, str):
                        written.data_type = "s"  # text, never a formula
                    row.append(written)
                sheet.append(row)
            else:
                sheet.append(values)
    with tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024) as spooled:
        workbook.save(spooled)
        spooled.seek(0)
        while data := spooled.read(chunk):
            yield data
