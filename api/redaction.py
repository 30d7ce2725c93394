"""Personal data stays out of the logs: uvicorn's access log is written without query strings.

A lookup carries a national id or a phone in its query (`GET /v1/persons?national_id=…`), and
uvicorn logs the full path. The filter keeps the path and replaces the query with `?…`.
"""

from __future__ import annotations

import logging


class WithoutQuery(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn.access: '%s - "%s %s HTTP/%s" %d' % (client, method, path?query, version, status)
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (args[0], args[1], args[2].split("?", 1)[0] + "?…", args[3], args[4])
        return True


def keep_queries_out_of_the_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, WithoutQuery) for f in access.filters):
        access.addFilter(WithoutQuery())
