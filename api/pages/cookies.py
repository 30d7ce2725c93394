"""What the pages ask of a browser, the same for the auditor's, the officials' and the citizens':
cookies the page's scripts cannot read, sent to one path and never from another site, and forms
that came from this site (the Origin a browser names)."""

from __future__ import annotations

from fastapi import Request, Response


def keep(request: Request, response: Response, name: str, value: str, seconds: int, path: str) -> None:
    response.set_cookie(
        name,
        value,
        max_age=seconds,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def same_origin(request: Request) -> bool:
    """A browser names the page a form was sent from; another site's page may not post here."""
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"
