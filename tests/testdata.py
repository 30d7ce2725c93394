"""Where the third-party test data lives (read-only; its sources in SOURCES.md there)."""

from __future__ import annotations

import os
from pathlib import Path

TESTDATA = Path(os.environ.get("DOSELEDGER_TESTDATA", "/work/shared/testdata"))
