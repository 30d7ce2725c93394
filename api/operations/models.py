"""Operations on the wire: projection status and liveness."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.models import example

PROJECTION = {
    "name": "certificates",
    "position": 120480,
    "head": 120482,
    "lag_events": 2,
    "lag_seconds": 0.08,
    "state": "running",
    "error": None,
}


class ProjectionStatus(BaseModel):
    model_config = example(PROJECTION)
    name: str
    position: int | None
    head: int | None
    lag_events: int | None
    lag_seconds: float | None
    state: str
    error: str | None = None


STANDBY = {
    "name": "replica",
    "state": "streaming",
    "sync_state": "async",
    "bytes_behind": 1304,
    "replay_lag_seconds": 0.002,
}
CONFLICTS = {"lock": 3, "snapshot": 0, "bufferpin": 0, "deadlock": 0, "tablespace": 0}
REPLICA = {
    "state": "streaming",
    "bytes_behind": 1304,
    "unreplayed_bytes": 0,
    "replay_age_seconds": 0.01,
    "paused": False,
    "standbys": [STANDBY],
    "conflicts": CONFLICTS,
    "retried_reads": 3,
    "error": None,
}


class StandbyStatus(BaseModel):
    """A standby as the primary sees it (pg_stat_replication)."""

    model_config = example(STANDBY)
    name: str
    state: str | None
    sync_state: str | None
    bytes_behind: int | None
    replay_lag_seconds: float | None


class RecoveryConflicts(BaseModel):
    """Reads a standby cancelled for its replay (the README's read replica section: the settings
    that avoid them)."""

    model_config = example(CONFLICTS)

    lock: int = Field(description="held a lock a replayed DROP or ALTER TABLE needed (a rebuild's swap)")
    snapshot: int = Field(description="saw rows the primary's vacuum removed (hot_standby_feedback off)")
    bufferpin: int
    deadlock: int
    tablespace: int


class ReplicaStatus(BaseModel):
    """The standby the projections are read from (DOSELEDGER_READ_DATABASE_URL)."""

    model_config = example(REPLICA)
    state: str = Field(description="streaming, paused, not-a-standby or unreachable")
    bytes_behind: int | None = Field(description="the primary's WAL head less the standby's replay location")
    unreplayed_bytes: int | None = Field(description="WAL the standby received and has not replayed")
    replay_age_seconds: float | None = Field(
        description="seconds since the commit replayed last, while the standby is behind (0: caught up)"
    )
    paused: bool | None
    standbys: list[StandbyStatus]
    conflicts: RecoveryConflicts | None = Field(
        None,
        description="the standby's reads of this database cancelled for its replay, by kind, since its "
        "statistics were reset (pg_stat_database_conflicts; null: the standby did not answer)",
    )
    retried_reads: int = Field(
        0, description="read statements this API process ran again after the standby cancelled them"
    )
    error: str | None = None


class Projections(BaseModel):
    model_config = example({"projections": [PROJECTION], "replica": None})
    projections: list[ProjectionStatus]
    replica: ReplicaStatus | None = Field(
        None, description="the read standby's lag (null: the projections are read from the store itself)"
    )


class Health(BaseModel):
    model_config = example({"status": "ok"})
    status: str
