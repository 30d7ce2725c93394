"""CDC COVID-19 Vaccination Reporting Specification (CVRS) flat files: tab-delimited, one
vaccination event (or refusal) a row, read into the feeds' standard-neutral `FeedRecord`s and
booked through `intake.feeds.book`, like an HL7 VXU of the same event.

`reading.py` checks the file (a header row of CVRS columns, tab-delimited, decodable) and yields
its rows; `checks.py` is the CDC's row rules that matter to a ledger (errors refuse the row,
warnings flag it); `mapping.py` maps a row to a `FeedRecord` the way its HL7 twin maps.
"""

from intake.cvrs.mapping import records_of
from intake.cvrs.reading import CvrsRefused, CvrsRow, read_rows

__all__ = ["CvrsRefused", "CvrsRow", "read_rows", "records_of"]
