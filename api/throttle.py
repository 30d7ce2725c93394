"""At most N calls a minute per client address, counted in this process's memory.

For the one route without a token (a citizen's status check): it slows anyone guessing
verification codes. Each worker process counts on its own, so N workers allow N times the
limit; behind a proxy, run uvicorn with --proxy-headers so the client's address is the real one.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class Throttle:
    def __init__(
        self,
        limit: int,
        window: float = 60.0,
        max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_clients = max_clients  # the longest-quiet clients are forgotten first
        self.clock = clock
        self._calls: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """0 if `client` may call now (the call is counted); else the seconds until it may."""
        now = self.clock()
        with self._lock:
            calls = self._calls.get(client)
            if calls is None:
                calls = self._calls[client] = deque()
                while len(self._calls) > self.max_clients:
                    self._calls.popitem(last=False)
            self._calls.move_to_end(client)
            while calls and calls[0] <= now - self.window:
                calls.popleft()
            if len(calls) >= self.limit:
                return calls[0] + self.window - now
            calls.append(now)
            return 0.0
