"""Possible duplicates as pages: the groups of the session's provinces, two records side by side,
and the merge and its undoing as forms.

The groups and the side-by-side are the review API's (`views.review.possible_duplicates`, its
masking of people outside a province official's provinces, `_compared`); the forms call the use
cases `POST /v1/persons/{id}/merge` and `/unmerge` call (`DoseLedger.merge_persons`,
`unmerge_persons`), with the API's rule: an admin merges and unmerges any pair, a province
official a pair of its provinces (the use case checks both people inside its decision, so a
forged form for someone else's person is refused there). Every person whose data a page shows is a recorded read. Bad input is named beside its
field in the page's language and nothing is stored: the use case writes both streams in one
transaction or refuses as a whole.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from api.access_log import recorded_read
from api.auth import actor
from api.pages.i18n import text
from api.pages.rendering import language, render, written_at
from api.pages.session import Session, SignedIn
from api.review.router import _compared as compared
from api.review.router import _masked as masked
from ledger.catalog import provinces
from ledger.errors import (
    Conflict,
    InvalidValue,
    MergeNotUndoable,
    NotFound,
    NotMerged,
    OutOfScope,
    PersonErased,
    PersonMerged,
)
from ledger.principal import ADMIN, PROVINCE

router = APIRouter(prefix="/console", include_in_schema=False)
Reviewer = Annotated[Session, Depends(SignedIn(ADMIN, PROVINCE))]
SHOWN = 200  # groups a page lists; the download has every one


@router.get("/duplicates")
def duplicates(request: Request, session: Reviewer) -> Response:
    views = request.app.state.views
    scope = session.provinces
    groups = [masked(g, scope) for g in views.review.possible_duplicates(scope, limit=SHOWN)]
    merged = views.review.merged(scope)
    # Every member is a read, one shown by id and province too: the group shows their name and
    # birth date (as the API logs them).
    people = [str(p["person_id"]) for g in groups for p in g["people"]]
    if people:
        recorded_read(request, session.principal, people, "pages.duplicates")
    return render(
        request,
        "duplicates.html",
        {"groups": groups, "merged": merged, "shown": SHOWN, "province_names": provinces()},
        session=session,
    )


@router.get("/duplicates/compare")
def compare(
    request: Request, session: Reviewer, a: str = "", b: str = "", done: str = "", at: int = 0
) -> Response:
    written_at(request, at)
    return _compare_page(request, session, a, b, {}, done=done)


@router.post("/duplicates/merge")
async def merge(request: Request, session: Reviewer) -> Response:
    lang = language(request)
    form = await request.form()
    a, b = str(form.get("a") or ""), str(form.get("b") or "")
    survivor = str(form.get("survivor") or "")
    reason = str(form.get("reason") or "").strip()
    if not _ids(a, b):
        return _compare_page(request, session, a, b, {})  # names what is wrong with the ids
    errors: dict[str, str] = {}
    if survivor not in (a, b) or not survivor:
        errors["survivor"] = text(lang, "Choose the record that stays.")
    if not reason:
        errors["reason"] = text(lang, "Give the reason for the merge.")
    if errors:
        return _compare_page(request, session, a, b, errors, form=dict(form), status=422)
    duplicate = b if survivor == a else a
    refused = await _write(
        request,
        session,
        "merge_persons",
        survivor,
        duplicate,
        reason,
        source={"kind": "page", "route": "duplicates.merge"},
    )
    if "at" not in refused:
        status = int(refused.pop("status", "409"))
        return _compare_page(request, session, a, b, refused, form=dict(form), status=status)
    return RedirectResponse(
        f"/console/duplicates/compare?a={UUID(survivor)}&b={UUID(duplicate)}&done=merged&at={refused['at']}",
        status_code=303,
    )


@router.post("/duplicates/unmerge")
async def unmerge(request: Request, session: Reviewer) -> Response:
    lang = language(request)
    form = await request.form()
    survivor, duplicate = str(form.get("survivor") or ""), str(form.get("duplicate") or "")
    reason = str(form.get("unmerge_reason") or "").strip()
    if not _ids(survivor, duplicate):
        return _compare_page(request, session, survivor, duplicate, {})
    if not reason:
        return _compare_page(
            request,
            session,
            survivor,
            duplicate,
            {"unmerge_reason": text(lang, "Give the reason for undoing the merge.")},
            form=dict(form),
            status=422,
        )
    refused = await _write(
        request,
        session,
        "unmerge_persons",
        survivor,
        duplicate,
        reason,
        source={"kind": "page", "route": "duplicates.unmerge"},
    )
    if "at" not in refused:
        status = int(refused.pop("status", "409"))
        return _compare_page(request, session, survivor, duplicate, refused, form=dict(form), status=status)
    return RedirectResponse(
        f"/console/duplicates/compare?a={UUID(survivor)}&b={UUID(duplicate)}&done=unmerged&at={refused['at']}",
        status_code=303,
    )


async def _write(
    request: Request, session: Session, command: str, survivor: str, duplicate: str, reason: str, **kw: Any
) -> dict[str, str]:
    """The use case called: `{"at": position}` when written, else what it refuses as the page's
    errors (nothing was stored then), with the page's status when it is not 409. A province
    official's scope goes to the use case, which checks both people on its own reads."""
    lang = language(request)
    try:
        written = await run_in_threadpool(
            getattr(request.app.state.ledger, command),
            survivor,
            duplicate,
            reason,
            actor=actor(session.principal),
            provinces=session.provinces,
            **kw,
        )
    except OutOfScope:
        return {
            "form": text(
                lang,
                "One of the two records is outside your provinces: you may not merge it or undo its merge.",
            ),
            "status": "403",
        }
    except NotMerged:
        return {"form": text(lang, "These two records are not merged (never, or undone already).")}
    except PersonMerged:
        return {"form": text(lang, "One of the two records was merged into another record already.")}
    except PersonErased:
        return {"form": text(lang, "One of the two records was erased.")}
    except MergeNotUndoable:
        return {
            "form": text(
                lang,
                "A correction request the merge carried was accepted since: the merge cannot be undone.",
            )
        }
    except NotFound:
        return {"form": text(lang, "No person has this id.")}
    except (InvalidValue, Conflict) as refused:  # the domain's other checks, in its words (English)
        return {"form": refused.message}
    return {"at": str(written.position)}


def _compare_page(
    request: Request,
    session: Session,
    a: str,
    b: str,
    errors: dict[str, str],
    *,
    form: dict[str, Any] | None = None,
    status: int = 200,
    done: str = "",
) -> Response:
    lang = language(request)
    ids: list[str] = []
    for value in (a, b):
        try:
            ids.append(str(UUID(value.strip())))
        except ValueError:
            return _message(
                request,
                session,
                422,
                text(lang, "Not a person id"),
                text(lang, "Open two records from the list of possible duplicates."),
            )
    if ids[0] == ids[1]:
        return _message(
            request,
            session,
            422,
            text(lang, "The same record twice"),
            text(lang, "Open two records from the list of possible duplicates."),
        )
    records = request.app.state.views.review.records(ids)
    if any(pid not in records for pid in ids):
        return _message(
            request, session, 404, text(lang, "No such person"), text(lang, "No person has this id.")
        )
    if session.provinces is not None and any(
        records[pid].details.get("province") not in session.provinces for pid in ids
    ):
        return _message(
            request,
            session,
            403,
            text(lang, "Not in your scope"),
            # A refused merge or unmerge says why (the use case's words); a look, that it may not.
            errors.get("form") or text(lang, "This person's record is not yours to read."),
        )
    people = [compared(records[pid]) for pid in ids]
    recorded_read(request, session.principal, ids, "pages.compare")
    # A merged pair (either way round) offers the undoing; two open records the merge.
    pair = None
    if people[1]["merged_into"] == ids[0]:
        pair = {"survivor": ids[0], "duplicate": ids[1]}
    elif people[0]["merged_into"] == ids[1]:
        pair = {"survivor": ids[1], "duplicate": ids[0]}
    return render(
        request,
        "compare.html",
        {
            "people": people,
            "a": ids[0],
            "b": ids[1],
            "pair": pair,
            "errors": errors,
            "form": form or {},
            "done": done,
            "province_names": provinces(),
            "here": "/console/duplicates/compare",
            "here_query": {"a": ids[0], "b": ids[1]},
        },
        status,
        session=session,
    )


def _ids(*values: str) -> bool:
    """Whether every value is a person id (a UUID), and no two the same."""
    try:
        return len({UUID(v.strip()) for v in values}) == len(values)
    except ValueError:
        return False


def _message(request: Request, session: Session, status: int, title: str, body: str) -> Response:
    return render(request, "message.html", {"title": title, "text": body}, status, session=session)
