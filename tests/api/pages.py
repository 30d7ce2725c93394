"""Signing a test client in to the console (api/pages), and reading a page's CSRF token."""

from __future__ import annotations

import re
from typing import Any

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: Any, token: str, next_: str = "/console/", **headers: str) -> Any:
    """The sign-in form fetched (its CSRF cookie and field), then sent with the token."""
    form = client.get("/console/login")
    return client.post(
        "/console/login",
        data={"token": token, "next": next_, "csrf": csrf_of(form.text)},
        headers=headers,
        follow_redirects=False,
    )


def post_form(client: Any, url: str, data: dict[str, str], page: str = "/console/", **kwargs: Any) -> Any:
    """A form of a signed-in page sent with the session's CSRF token (read from `page`)."""
    token = csrf_of(client.get(page).text)
    return client.post(url, data={**data, "csrf": token}, follow_redirects=False, **kwargs)
