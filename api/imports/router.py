"""Retro imports: send a spreadsheet of past doses (or of sites' daily tallies: its header says
which), get its row report (a large file: poll it), download every error as CSV, and the blank
templates.

Who: `site` (rows of its own sites only) and `admin` send. An import is read by its submitter,
admins and auditors; to anyone else it does not exist (404: ids reveal nothing). The template
is for those who may send (site, admin).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from api.auth import actor, acts_for
from api.dependencies import AppSettings, Ledger, SiteOrAuditorPrincipal, SitePrincipal
from api.imports.models import ImportAnswer, ImportStatus
from api.models import READS, WRITES, problems
from api.problems import forbidden
from api.uploads import SavedFile, Upload, invalid, receive_form
from intake.retro import MappingError, TemplateMismatch, UnreadableFile, intake
from intake.retro.importing import Form
from intake.retro.mapping import Mapping, sent_mapping
from ledger.principal import SITE, Principal

router = APIRouter(prefix="/v1/imports", tags=["imports"])

FILE_PARTS = ("file", "people")
TEXT_PARTS = ("unit", "attested_by", "document_ref", "site_id", "mapping")

FORM_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "unit", "attested_by"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "the filled template: CSV (UTF-8 or UTF-16; comma or semicolon) or XLSX",
                        },
                        "unit": {
                            "type": "string",
                            "description": "the submitting unit",
                            "example": "TTYT Quận Ba Đình",
                        },
                        "attested_by": {
                            "type": "string",
                            "description": "who signed the commitment for the file",
                            "example": "BS. Lê Văn Tám",
                        },
                        "document_ref": {
                            "type": "string",
                            "description": "the reference of the stamped paper copy",
                            "example": "CV 123/TTYT",
                        },
                        "site_id": {"type": "string", "description": "the site of rows that name none"},
                        "mapping": {
                            "type": "string",
                            "description": "for a file not in the template's shape: "
                            "`col=field,...` or a JSON mapping (intake/retro/mapping.py), as the CLI's --map",
                        },
                        "people": {
                            "type": "string",
                            "format": "binary",
                            "description": "the people file a JSON mapping's `people` part reads",
                        },
                    },
                }
            }
        },
    }
}


@router.get(
    "/template.csv",
    response_class=Response,
    responses=problems(401, 403),
    summary="The blank template as CSV (UTF-8 with BOM, Vietnamese headers)",
)
def template_csv(principal: SitePrincipal) -> Response:
    return _template("csv")


@router.get(
    "/template.xlsx",
    response_class=Response,
    responses=problems(401, 403),
    summary="The blank template as XLSX",
)
def template_xlsx(principal: SitePrincipal) -> Response:
    return _template("xlsx")


@router.get(
    "/tally-template.csv",
    response_class=Response,
    responses=problems(401, 403),
    summary="The blank tally template as CSV: a row per site, day and vaccine with its doses",
)
def tally_template_csv(principal: SitePrincipal) -> Response:
    return _template("csv", tallies=True)


@router.get(
    "/tally-template.xlsx",
    response_class=Response,
    responses=problems(401, 403),
    summary="The blank tally template as XLSX",
)
def tally_template_xlsx(principal: SitePrincipal) -> Response:
    return _template("xlsx", tallies=True)


def _template(kind: str, *, tallies: bool = False) -> Response:
    data, media_type, name = intake.template(kind, tallies=tallies)
    return Response(
        data, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.post(
    "",
    status_code=201,
    response_model=ImportAnswer,
    openapi_extra=FORM_BODY,
    responses={
        **WRITES,
        **problems(415),
        202: {
            "model": ImportAnswer,
            "description": "A large file (a dry run too): importing in the background; poll the Location",
        },
        200: {"model": ImportAnswer, "description": "A dry run of a small file: nothing stored"},
    },
    summary="Import a spreadsheet of past doses, or of sites' daily tallies (multipart): 201 with "
    "the row report, 202 running in the background, 200 a dry run",
)
async def submit(
    request: Request,
    response: Response,
    principal: SitePrincipal,
    ledger: Ledger,
    settings: AppSettings,
    dry_run: bool = False,
) -> dict[str, Any]:
    # Read after the token and role are checked: a refused caller uploads nothing.
    upload = await receive_form(
        request, file_parts=FILE_PARTS, text_parts=TEXT_PARTS, directory=settings.import_dir
    )
    try:
        sheet, form, mapping = _submission(upload, principal)
    except BaseException:
        upload.discard()
        raise
    try:
        # intake.submit discards the upload once it is no longer needed (in the background
        # for a large file), on every path.
        answer = await run_in_threadpool(
            intake.submit,
            ledger,
            sheet.path,
            form,
            actor(principal),
            dry_run=dry_run,
            file_name=sheet.filename or "upload",
            mapping=mapping,
            background_bytes=settings.import_background_bytes,
            when_done=upload.discard,
            jobs=request.app.state.import_jobs,
        )
    except (TemplateMismatch, UnreadableFile) as e:
        raise invalid("file", str(e)) from None
    except MappingError as e:
        raise invalid("mapping", str(e)) from None
    if answer["status"] == "running":  # a job, a dry run too: poll it
        response.headers["Location"] = f"{router.prefix}/{answer['import_id']}"
        response.status_code = 202
    elif dry_run:
        response.status_code = 200
        answer["import_id"] = None  # nothing of a small dry run is stored to read back
    else:
        response.headers["Location"] = f"{router.prefix}/{answer['import_id']}"
    return answer


def _submission(upload: Upload, principal: Principal) -> tuple[SavedFile, Form, Mapping | None]:
    """The file, the form and the mapping, checked as far as HTTP can (the ledger does the rest)."""
    sheet = upload.files.get("file")
    if sheet is None:
        raise invalid("file", "is required: the spreadsheet, as a file part")
    fields = upload.fields
    site_id = fields.get("site_id") or None
    if site_id is not None and not acts_for(principal, site_id):
        raise forbidden(f"this token may not import for site {site_id!r}", ["body", "site_id"])
    mapping = None
    if fields.get("mapping", "").strip():
        try:
            mapping = sent_mapping(fields["mapping"])
        except MappingError as e:
            raise invalid("mapping", str(e)) from None
    people = upload.files.get("people")
    if mapping is not None and mapping.people_spec is not None:
        if people is None:
            raise invalid("people", "is required: the mapping reads people from a file")
        mapping.people_path = people.path
    elif people is not None:
        raise invalid("people", "is read only through a mapping with a `people` part")
    form = Form(
        unit=fields.get("unit", ""),
        attested_by=fields.get("attested_by", ""),
        document_ref=fields.get("document_ref") or None,
        site_id=site_id,
        allowed_sites=frozenset(principal.sites) if principal.role == SITE else None,
    )
    return sheet, form, mapping


@router.get(
    "/{import_id}",
    response_model=ImportStatus,
    responses={**READS, **problems(404)},
    summary="An import's status, counts, progress and first errors (its submitter, admins, auditors)",
)
def status(import_id: UUID, principal: SiteOrAuditorPrincipal, ledger: Ledger) -> dict[str, Any]:
    return intake.status(ledger, import_id, actor(principal))


@router.get(
    "/{import_id}/errors.csv",
    response_class=StreamingResponse,
    responses={**READS, **problems(404)},
    summary="Every refused row as CSV (row, column, value, msg): fix them and send just those rows again",
)
def errors_csv(import_id: UUID, principal: SiteOrAuditorPrincipal, ledger: Ledger) -> StreamingResponse:
    lines = intake.errors_csv_lines(ledger, import_id, actor(principal))  # 404 raised here
    return StreamingResponse(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{import_id}-errors.csv"'},
    )
