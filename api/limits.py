"""Request bodies over a limit are refused with 413, before they are read in full.

Checked twice: from Content-Length before anything is read, and by counting while the body
streams in (a chunked body, or a client that lies about its length). Starlette's own limit
answers in plain text when Content-Length is over; this one answers problem+json both ways.
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import Problem


class BodyTooLarge(HTTPException):
    # A FastAPI HTTPException, so that FastAPI re-raises it from its body reading as it is
    # (any other error there becomes a 400), and the problem handler answers 413.
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over {limit:,} bytes")


class BodyLimit:
    def __init__(self, app: ASGIApp, *, default: int, by_path_suffix: dict[str, int]) -> None:
        self.app = app
        self.default = default
        self.by_path_suffix = by_path_suffix

    def limit_for(self, path: str) -> int:
        for suffix, limit in self.by_path_suffix.items():
            if path.endswith(suffix):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
            response = Problem(
                413,
                "too-large",
                f"the request body is over {limit:,} bytes (Content-Length: {int(declared):,})",
                headers={"Connection": "close"},
            ).response()
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)
