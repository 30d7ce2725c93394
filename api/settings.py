"""What the service is configured with: the environment, read once at start."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from intake.retro.intake import BACKGROUND_BYTES
from store.url import database_url

MiB = 1024 * 1024


def _number(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=database_url)
    # How long a verified token is trusted without asking the store again: a revocation
    # reaches every worker within this time.
    token_cache_seconds: float = field(
        default_factory=lambda: _number("DOSELEDGER_TOKEN_CACHE_SECONDS", 30))
    max_body_bytes: int = field(
        default_factory=lambda: int(_number("DOSELEDGER_MAX_BODY_BYTES", 2 * MiB)))
    max_batch_body_bytes: int = field(
        default_factory=lambda: int(_number("DOSELEDGER_MAX_BATCH_BODY_BYTES", 8 * MiB)))
    # A retro-import upload (multipart) may be this large; it is streamed to a file, never held.
    max_import_bytes: int = field(
        default_factory=lambda: int(_number("DOSELEDGER_MAX_IMPORT_BYTES", 200 * MiB)))
    # Uploads larger than this are imported in the background (answer 202, then poll).
    import_background_bytes: int = field(
        default_factory=lambda: int(_number("DOSELEDGER_IMPORT_BACKGROUND_BYTES", BACKGROUND_BYTES)))
    # Where uploads wait while they are imported (default: the system's temporary folder).
    import_dir: str | None = field(default_factory=lambda: os.environ.get("DOSELEDGER_IMPORT_DIR") or None)
    # Single-dose requests arriving within this many milliseconds of each other are saved in
    # one transaction (usecases.group_commit); 0 saves each request on its own.
    group_commit_ms: float = field(
        default_factory=lambda: _number("DOSELEDGER_GROUP_COMMIT_MS", 2))
    # A read asking for ?min_position=N waits at most this long for the projection.
    read_wait_seconds: float = field(
        default_factory=lambda: _number("DOSELEDGER_READ_WAIT_SECONDS", 5))
    # An unresolved correction request older than this many days is overdue.
    correction_overdue_days: float = field(
        default_factory=lambda: _number("DOSELEDGER_CORRECTION_OVERDUE_DAYS", 7))
    # A citizen's status checks (no token) per client address per minute, to slow code guessing.
    status_checks_per_minute: int = field(
        default_factory=lambda: int(_number("DOSELEDGER_STATUS_CHECKS_PER_MINUTE", 10)))
    # FastAPI's OpenTelemetry spans and metrics. Off unless asked for: the service exports its
    # own Prometheus metrics, and with no tracer configured the check alone cost ~4 % of a dose
    # request (it looks up the global providers on every request).
    opentelemetry: bool = field(
        default_factory=lambda: bool(_number("DOSELEDGER_OPENTELEMETRY", 0)))
