"""The pages' catalogs: every message the templates and api/pages use has a Vietnamese and an
English entry, each with its placeholders; and a page is in the language asked for."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir

from api.pages import i18n

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def used_messages() -> set[str]:
    """The msgids in the page templates (`_()`) and in api/pages' Python (`text(lang, ...)`)."""
    found: set[str] = set()
    for directory, method in (
        (ROOT / "api" / "templates" / "pages", "jinja2.ext:babel_extract"),
        (ROOT / "api" / "pages", "python"),
    ):
        for _file, _line, message, _comments, _context in extract_from_dir(
            directory,
            method_map=[("**.html", method), ("**.py", method)],
            keywords={"_": None, "text": (2,), "gettext": None, "ngettext": (1, 2)},
            options_map={"**.html": {"extensions": "jinja2.ext.i18n"}},
        ):
            for one in message if isinstance(message, tuple) else (message,):
                if one:
                    found.add(one)
    return found


def test_the_templates_use_messages():
    used = used_messages()
    assert "Sign in" in used and "Dashboard" in used
    assert "A %(role)s token may not open these pages." in used  # from Python, `text()`


def test_every_message_has_a_vietnamese_and_an_english_entry_with_its_placeholders():
    used = used_messages()
    for language in i18n.LANGUAGES:
        missing = sorted(used - set(i18n.CATALOGS[language]))
        assert not missing, f"{language}: no entry for {missing}"
        for message in used:
            assert PLACEHOLDER.findall(message) == PLACEHOLDER.findall(
                i18n.CATALOGS[language][message]
            ) or set(PLACEHOLDER.findall(message)) == set(
                PLACEHOLDER.findall(i18n.CATALOGS[language][message])
            ), (language, message)


def test_vietnamese_is_not_english_in_disguise():
    vi = i18n.CATALOGS["vi"]
    assert vi["Sign in"] == "Đăng nhập"
    same = [m for m in used_messages() if vi[m] == m and len(m) > 12]
    assert not same, f"untranslated: {same}"
