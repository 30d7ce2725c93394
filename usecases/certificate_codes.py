"""A citizen's certificate code: the person's id, enciphered under a deployment key, in letters
a person can type from a printed certificate.

The code is one AES-256 block (a keyed permutation of the 128-bit id) under the ids secret's
key for this purpose (IdKey.derived), written in Crockford's base32: 26 characters. Nothing is
stored: every person has a code, those registered before codes existed too, and reading one back
costs one block decryption. It holds no personal data (an internal id, enciphered), it cannot be
computed without the deployment's secret, and a guessed code names a random id: the citizen's
page also asks for the birth date and answers a wrong pair as it answers a wrong code.
"""

from __future__ import annotations

import threading
from base64 import b32encode
from uuid import UUID

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ledger.keys import IdKey

PURPOSE = "certificate-code"
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's: no I, L, O, U
LENGTH = 26  # 130 bits: the first character carries the top 3 of the 128 (0-7)
GROUP = 5
# What a person may type for a letter that looks like a digit.
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})
# base32's letters (RFC 4648) to Crockford's: the same 5-bit values, other characters.
_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ALPHABET.encode())


class CertificateCodes:
    def __init__(self, ids: IdKey) -> None:
        # One block, no mode to speak of: ECB of a single block is the AES permutation itself.
        self._cipher = Cipher(algorithms.AES(ids.derived(PURPOSE)), modes.ECB())
        # Every dose's answer carries a code: making an encryptor per code cost more than the
        # rest of the code. ECB keeps no state between blocks, so one encryptor serves every
        # block; it is not safe across threads, hence the lock (held for one block).
        self._encryptor = self._cipher.encryptor()
        self._encrypting = threading.Lock()

    def code(self, person_id: UUID) -> str:
        """The code printed for this person, in groups of five: `0ABCD-EFGHJ-…`."""
        with self._encrypting:
            block = self._encryptor.update(person_id.bytes)
        # The 128 bits as 26 base32 digits, the first carrying the top 3: shifted by 6 bits
        # into 17 bytes, base32's first 26 characters are those digits (the rest: the zeros).
        shifted = (int.from_bytes(block) << 6).to_bytes(17)
        digits = b32encode(shifted)[:LENGTH].translate(_CROCKFORD).decode("ascii")
        return "-".join(digits[i : i + GROUP] for i in range(0, LENGTH, GROUP))

    def person_id(self, typed: str) -> UUID | None:
        """The id a typed code names (spaces, dashes and case ignored); None if it is no code."""
        digits = "".join(typed.split()).replace("-", "").upper().translate(_READ_AS)
        if len(digits) != LENGTH or any(c not in ALPHABET for c in digits) or ALPHABET.index(digits[0]) > 7:
            return None
        number = 0
        for c in digits:
            number = (number << 5) | ALPHABET.index(c)
        decryptor = self._cipher.decryptor()
        return UUID(bytes=decryptor.update(number.to_bytes(16)) + decryptor.finalize())
