"""Where the third-party test data is (read-only; its SOURCES.md says what each file is for)."""

from __future__ import annotations

import os
from pathlib import Path

TESTDATA = Path(os.environ.get("DOSELEDGER_TESTDATA", "/work/shared/testdata"))
