"""Signed certificates: the encodings a verifier anywhere can check offline.

The EU Digital COVID Certificate (`dcc.py`: CWT in COSE_Sign1, ES256, zlib, base45, `HC1:`) and
SMART Health Cards (`shc.py`: a FHIR Bundle in a compact JWS, ES256, raw DEFLATE, `shc:/`), the
keys that sign them (`keys.py`: kept in files outside the repository and the event store), the
trust list a verifier checks them against (`trust.py`), and the verdict (`verdict.py`).

The domain says what a certificate certifies (ledger/certification.py); this package only
encodes, signs and checks. A signature is made once per certificate version and stored with its
issuance; the QR text is assembled again from the content and that signature, byte for byte.
"""
