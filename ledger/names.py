"""How names and free text are compared: Unicode NFC, folded spaces, and a diacritic-free key."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def clean(text: str) -> str:
    """The stored form of a name: NFC (so 'ễ' is one code point), single spaces, trimmed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def match_key(text: str) -> str:
    """A key that ignores case, spacing, punctuation and diacritics ('Vero Cell' ~ 'vérocell')."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return _NOT_ALNUM.sub("", plain.casefold())


def person_key(full_name: str) -> str:
    """Key for spotting the same person written twice: words kept, diacritics and case dropped."""
    decomposed = unicodedata.normalize("NFD", clean(full_name).replace("đ", "d").replace("Đ", "D"))
    plain = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return " ".join(_NOT_ALNUM.sub(" ", plain.casefold()).split())
