"""Prometheus metrics: requests and latency by route, doses appended, duplicates, rejections,
refusals by rate limit, projection lag.

With several uvicorn workers each process counts for itself; `doseledger serve` then sets
PROMETHEUS_MULTIPROC_DIR and a scrape of any worker adds up every worker's files.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("doseledger.api")

REQUESTS = Counter("doseledger_http_requests", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "doseledger_http_request_duration_seconds",
    "Time to answer a request",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DOSES = Counter("doseledger_doses_appended", "Doses newly recorded through the API")
DUPLICATES = Counter("doseledger_dose_duplicates", "Doses sent again: answered, nothing written")
REJECTIONS = Counter("doseledger_rejections", "Requests or batch items refused for their content", ["reason"])
# An alert's source: a token or an address held back by a limit (a leaked token scraping
# look-ups, someone guessing status codes) shows here by the limit's name.
RATE_LIMITED = Counter("doseledger_rate_limit_refusals", "Calls refused by a rate limit (429)", ["limit"])


def rejected(reason: str, n: int = 1) -> None:
    if n:
        REJECTIONS.labels(reason).inc(n)


def rate_limited(limit: str) -> None:
    RATE_LIMITED.labels(limit).inc()


def recorded(created: int, duplicates: int) -> None:
    if created:
        DOSES.inc(created)
    if duplicates:
        DUPLICATES.inc(duplicates)


class RequestMetrics:
    """Pure ASGI (no BaseHTTPMiddleware overhead): the route template, never the raw path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = route_of(scope)
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)


def route_of(scope: Scope) -> str:
    """The matched route's template (never the raw path with its ids), or 'unmatched'."""
    route = scope.get("route")
    if route is not None:
        path: str = route.path
        return path
    # FastAPI's own pages (/docs, /openapi.json) are plain routes without parameters.
    return scope["path"] if scope.get("endpoint") is not None else "unmatched"


class ProjectionLag(Collector):
    """Read at scrape time from the projections' own status."""

    def __init__(self, status: Callable[[], list[dict[str, Any]]]) -> None:
        self.status = status

    def collect(self) -> Any:
        events = GaugeMetricFamily(
            "doseledger_projection_lag_events",
            "Events in the store not yet in the projection",
            labels=["projection"],
        )
        seconds = GaugeMetricFamily(
            "doseledger_projection_lag_seconds",
            "Age of the oldest event not yet in the projection",
            labels=["projection"],
        )
        position = GaugeMetricFamily(
            "doseledger_projection_position",
            "Last store position the projection has processed",
            labels=["projection"],
        )
        try:
            rows = self.status()
        except Exception:  # a scrape must not fail because the projections are unreachable
            log.warning("projection status unavailable for /metrics", exc_info=True)
            rows = []
        for row in rows:
            name = row["name"]
            if row.get("lag_events") is not None:
                events.add_metric([name], row["lag_events"])
            if row.get("lag_seconds") is not None:
                seconds.add_metric([name], row["lag_seconds"])
            if row.get("position") is not None:
                position.add_metric([name], row["position"])
        return [events, seconds, position]


class ReplicaLag(Collector):
    """Read at scrape time from the standby the projections are read from (none: no samples)."""

    def __init__(self, status: Callable[[], dict[str, Any] | None]) -> None:
        self.status = status

    def collect(self) -> Any:
        up = GaugeMetricFamily("doseledger_replica_up", "1 while the read standby answers and replays")
        behind = GaugeMetricFamily(
            "doseledger_replica_lag_bytes", "WAL bytes the read standby has not replayed yet"
        )
        age = GaugeMetricFamily(
            "doseledger_replica_replay_age_seconds",
            "Seconds since the commit the read standby replayed last, while it is behind",
        )
        paused = GaugeMetricFamily(
            "doseledger_replica_replay_paused", "1 while the standby's replay is paused"
        )
        conflicts = CounterMetricFamily(
            "doseledger_replica_conflicts",
            "Reads of this database the standby cancelled for its replay (pg_stat_database_conflicts)",
            labels=["kind"],
        )
        retried = CounterMetricFamily(
            "doseledger_replica_read_retries", "Read statements run again after the standby cancelled them"
        )
        try:
            found = self.status()
        except Exception:  # a scrape must not fail because the primary is unreachable
            log.warning("replica status unavailable for /metrics", exc_info=True)
            return [up]
        if found is None:
            return []
        up.add_metric([], 1 if found["state"] == "streaming" else 0)
        for family, key in ((behind, "bytes_behind"), (age, "replay_age_seconds"), (paused, "paused")):
            if found.get(key) is not None:
                family.add_metric([], float(found[key]))
        for kind, count in (found.get("conflicts") or {}).items():
            conflicts.add_metric([kind], count)
        retried.add_metric([], found.get("retried_reads", 0))
        return [up, behind, age, paused, conflicts, retried]


def exposition(
    projection_status: Callable[[], list[dict[str, Any]]],
    replica_status: Callable[[], dict[str, Any] | None] = lambda: None,
) -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        MultiProcessCollector(counted)  # type: ignore[no-untyped-call]  # prometheus_client leaves it untyped
    else:
        counted = REGISTRY
    lag = CollectorRegistry(auto_describe=False)
    lag.register(ProjectionLag(projection_status))
    lag.register(ReplicaLag(replica_status))
    return generate_latest(counted) + generate_latest(lag), CONTENT_TYPE_LATEST
