"""A Vietnamese full name as the EU DCC writes it: family and given names, and their ICAO 9303
machine-readable forms.

A Vietnamese name is written family name first ("Nguyễn Thị Hương": family "Nguyễn", given
"Thị Hương"); the ledger keeps one full name, so the family name is its first word and the given
names the rest. The machine-readable forms (`fnt`, `gnt`) follow ICAO Doc 9303 part 3: upper
case A-Z, "<" between the parts, at most 80 characters. Vietnamese letters carry their tones
and vowel marks as combining marks once decomposed, so dropping the marks gives the ICAO
letter; Đ is a letter of its own (no decomposition), transliterated D as on Vietnamese passports.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# ICAO 9303 limits each machine-readable name field of the DCC to 80 characters (the schema's
# maxLength of fnt and gnt).
MAX_LENGTH = 80

# Letters that do not decompose into a base letter and combining marks: Đ as on Vietnamese
# passports, the others as ICAO 9303 part 3's transliteration table writes them.
_SEPARATE_LETTERS = str.maketrans(
    {
        "Đ": "D", "đ": "D", "Ð": "D", "ð": "D",
        "Ø": "OE", "ø": "OE", "Æ": "AE", "æ": "AE", "Œ": "OE", "œ": "OE",
        "ß": "SS", "Þ": "TH", "þ": "TH", "Ł": "L", "ł": "L",
        "Ħ": "H", "ħ": "H", "Ĳ": "IJ", "ĳ": "IJ", "ı": "I",
    }
)  # fmt: skip
_NOT_ICAO = re.compile(r"[^A-Z<]")
_SEPARATORS = re.compile(r"[\s\-]+")


@dataclass(frozen=True)
class NameParts:
    """`family` and `given` as written (NFC); `given` is None for a one-word name."""

    family: str
    given: str | None

    @property
    def family_icao(self) -> str:
        return transliterate(self.family)

    @property
    def given_icao(self) -> str | None:
        return None if self.given is None else transliterate(self.given)


def split_name(full_name: str) -> NameParts:
    """The family name (first word) and the given names (the rest), whitespace collapsed.

    Raises ValueError for a name with no word at all (the ledger never stores one)."""
    words = unicodedata.normalize("NFC", full_name).split()
    if not words:
        raise ValueError("full_name: no word to take a family name from")
    return NameParts(family=words[0], given=" ".join(words[1:]) or None)


def transliterate(name: str) -> str:
    """The ICAO 9303 form: Đ/đ → D, diacritics dropped, upper case, spaces and hyphens → "<",
    any other character dropped, cut at 80 characters ("Thị Hương" → "THI<HUONG")."""
    text = unicodedata.normalize("NFC", name).strip().translate(_SEPARATE_LETTERS)
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    upper = _SEPARATORS.sub("<", bare.upper())
    # A separator at either end (a stray hyphen, a dropped symbol) separates nothing.
    return _NOT_ICAO.sub("", upper).strip("<")[:MAX_LENGTH].rstrip("<")
