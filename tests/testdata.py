"""Where the third-party test data is: read-only, shared, outside the repository.

$DOSELEDGER_TESTDATA, else `shared/testdata` beside the repository or beside any folder above it
(a checkout and a CI clone have it beside them; a worktree deeper down finds it higher up). A
test that needs it fails when it is missing (never skips).
"""

from __future__ import annotations

import os
from pathlib import Path


def _found() -> Path:
    if os.environ.get("DOSELEDGER_TESTDATA"):
        return Path(os.environ["DOSELEDGER_TESTDATA"])
    repo = Path(__file__).resolve().parents[1]
    return next(
        (p / "shared" / "testdata" for p in repo.parents if (p / "shared" / "testdata").is_dir()),
        repo.parent / "shared" / "testdata",
    )


TESTDATA = _found()
