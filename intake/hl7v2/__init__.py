"""HL7 v2.5.1 VXU^V04 intake: reading bytes into messages, mapping each to feed records,
booking them through `intake.feeds`, and an ACK per message.

    receive(ledger, data, actor, ...) → [Acknowledgement]   (intake/hl7v2/receiving.py)

The parser is python-hl7 (`hl7` on PyPI), chosen by measurement over hl7apy. Parsing the 136
messages of CDC's test files (testgood, testerror, testdefault) 20 times, and reading RXA-5
of each, on this project's 2-core machine: python-hl7 0.4.5 2,120 messages/s, hl7apy 1.3.5
119 messages/s (tolerant validation, no group finding): 18 times slower, too slow for an MLLP
feed of 10,000 messages. Maintenance: hl7apy's last release is 1.3.5 (March 2024),
python-hl7's 0.4.5 (March 2022); python-hl7 is small (a tree of lists, no message model), so
the structure checks it does not make are made here (segment ids, message type, version,
dates), and it ships an MLLP client and server on asyncio that the listener can use.
"""

from intake.hl7v2.receiving import MEDIA_TYPE, Acknowledgement, receive

__all__ = ["MEDIA_TYPE", "Acknowledgement", "receive"]
