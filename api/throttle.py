"""At most N calls a minute per subject (a token, a client address), counted in the store.

Every worker and every process serving the same store counts in the same table
(store/rate_limits.py), so N workers allow the limit once, not N times. A refusal is a 429
problem naming the limit, with Retry-After, and counted in `doseledger_rate_limit_refusals`
by limit: a token scraping look-ups shows there before it has read much.

The client's address is uvicorn's: behind a proxy, `DOSELEDGER_TRUSTED_PROXIES` names the
proxies whose X-Forwarded-For it believes (cli/serve.py); from anyone else the header is ignored.
"""

from __future__ import annotations

import math

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from api.metrics import rate_limited
from api.problems import Problem
from store.rate_limits import RateLimits

WINDOW = 60  # seconds: the limits are set per minute


class Throttle:
    """One named limit: `per_minute` calls of a subject in each minute, the rest refused."""

    def __init__(self, name: str, per_minute: int, counters: RateLimits, setting: str) -> None:
        self.name = name
        self.per_minute = per_minute
        self.counters = counters
        self.setting = setting  # the variable that sets it, named in the refusal

    def check(self, subject: str, what: str) -> None:
        """Count the call; a 429 problem if it is over the limit (it does I/O: not on the loop)."""
        counted = self.counters.count(self.name, subject, WINDOW)
        if counted.calls <= self.per_minute:
            return
        rate_limited(self.name)
        seconds = max(1, math.ceil(counted.retry_after))
        raise Problem(
            429,
            "too-many-requests",
            f"too many {what} (the {self.name} limit, {self.per_minute} a minute, "
            f"{self.setting}); retry in {seconds} s",
            headers={"Retry-After": str(seconds)},
            limit=self.name,
        )

    async def check_on_loop(self, subject: str, what: str) -> None:
        await run_in_threadpool(self.check, subject, what)


def client_address(request: Request) -> str:
    """The caller's address as uvicorn gives it (the forwarded one only from a trusted proxy)."""
    return request.client.host if request.client is not None else "unknown"
