"""JSON out through orjson: UTF-8 as is (a Vietnamese name stays readable), UUIDs and dates native."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class ORJSON(JSONResponse):
    # FastAPI's own ORJSONResponse is deprecated; this is the same few lines, kept here.
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class ProblemJSON(ORJSON):
    media_type = "application/problem+json"
