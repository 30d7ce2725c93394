"""Clients that misbehave the way real networks do, and retry until they are answered.

Each attempt draws a fault: a client timeout so short the answer is never read, or a socket
closed mid-request (after part of the body, or after all of it, before the answer). The
client then sends the same request again, as a site's software does, until it gets an answer
it can act on. Only an answer read in full counts as acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRYABLE = {409, 503}  # a racing copy of the same request; the store busy or away


@dataclass
class Tally:
    requests: int = 0
    timeouts: int = 0
    drops: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    acknowledged: set[tuple[str, str]] = field(default_factory=set)
    duplicates_answered: int = 0
    unexpected: list[str] = field(default_factory=list)

    @property
    def faults(self) -> int:
        return self.timeouts + self.drops

    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500 and status != 503)


class FaultyClient:
    def __init__(
        self,
        base: str,
        token: str,
        tally: Tally,
        rng: random.Random,
        *,
        timeout_rate: float = 0.15,
        drop_rate: float = 0.10,
    ) -> None:
        self.base, self.token, self.tally, self.rng = base, token, tally, rng
        self.timeout_rate, self.drop_rate = timeout_rate, drop_rate
        self.http = httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)

    async def close(self) -> None:
        await self.http.aclose()

    async def post_until_answered(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """Send until a final answer is read; faults are injected on the way."""
        while True:
            draw = self.rng.random()
            self.tally.requests += 1
            if draw < self.drop_rate:
                await self._drop_mid_request(path, body)
                self.tally.drops += 1
                continue
            timeout = self.rng.uniform(0.001, 0.05) if draw < self.drop_rate + self.timeout_rate else 60
            try:
                response = await self.http.post(path, json=body, timeout=timeout)
            except httpx.TimeoutException:
                self.tally.timeouts += 1
                continue
            except httpx.TransportError:  # the server closed on us (e.g. while restarting)
                self.tally.drops += 1
                await asyncio.sleep(0.05)
                continue
            self.tally.statuses[response.status_code] += 1
            if response.status_code in RETRYABLE:
                await asyncio.sleep(self.rng.uniform(0.01, 0.1))
                continue
            return response

    async def _drop_mid_request(self, path: str, body: dict[str, Any]) -> None:
        """Open a socket, send the headers and some or all of the body, and hang up."""
        payload = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {self.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode()
        cut = len(payload) if self.rng.random() < 0.5 else self.rng.randrange(len(payload))
        host, port = self.base.rsplit("//", 1)[1].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(head + payload[:cut])
            await writer.drain()
            await asyncio.sleep(self.rng.uniform(0, 0.02))
        finally:
            writer.transport.abort()  # RST, not a polite FIN: the worst case for the server
