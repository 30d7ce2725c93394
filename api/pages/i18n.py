"""The pages' languages: Vietnamese (the default) and English, from Babel's .po catalogs.

The catalogs (`locale/{vi,en}/LC_MESSAGES/messages.po`) are read once, when this module is
imported; a message missing from one shows its English msgid rather than failing the page
(tests/api/test_pages_i18n.py checks that every message the templates and this package use has
an entry in both). A page's language: `?lang=` if it names one (kept in the `doseledger_lang`
cookie from then on), else the cookie, else Vietnamese.

Templates call `_("...")` (jinja2.ext.i18n, new-style: `_("%(n)s doses", n=3)`); Python code
calls `text(lang, "...", **values)`, which the tests' extractor knows as well.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po
from fastapi import Request
from jinja2 import pass_context
from jinja2.runtime import Context

LANGUAGES = ("vi", "en")
DEFAULT = "vi"
COOKIE = "doseledger_lang"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
NAMES = {"vi": "Tiếng Việt", "en": "English"}  # each in its own language, as a switch shows it


def _read(language: str) -> dict[str, str]:
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=language, abort_invalid=True)
    return {str(m.id): str(m.string) for m in catalog if m.id and isinstance(m.id, str) and m.string}


CATALOGS: dict[str, dict[str, str]] = {language: _read(language) for language in LANGUAGES}


def text(lang: str, message: str, **values: Any) -> str:
    """`message` in `lang`, its `%(name)s` placeholders filled from `values`."""
    found = CATALOGS.get(lang, CATALOGS[DEFAULT]).get(message, message)
    return found % values if values else found


def chosen(request: Request) -> tuple[str, bool]:
    """The request's language, and whether it was chosen now (`?lang=`: keep it in the cookie)."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return str(asked), True
    kept = request.cookies.get(COOKIE)
    return (kept if kept in LANGUAGES else DEFAULT), False


@pass_context
def _gettext(context: Context, message: str) -> str:
    return text(context.get("lang", DEFAULT), message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    # Vietnamese has one plural form; English two: the catalogs hold the singular's entry and
    # the plural's, each as a message of its own.
    return text(context.get("lang", DEFAULT), singular if n == 1 else plural)


def install(environment: Any) -> None:
    """The templates' `_()`: looked up in the language the page is rendered in (its `lang`)."""
    environment.add_extension("jinja2.ext.i18n")
    environment.install_gettext_callables(_gettext, _ngettext, newstyle=True)
