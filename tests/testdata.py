"""Where the third-party test data is: read-only, shared, outside the repository.

A test that needs it fails when it is missing (never skips): set DOSELEDGER_TESTDATA.
"""

from __future__ import annotations

import os
from pathlib import Path

TESTDATA = Path(os.environ.get("DOSELEDGER_TESTDATA", "/work/shared/testdata"))
