"""The settings the service and the CLI share: read from DOSELEDGER_ variables, each one
documented once (its description, which the README's table repeats), a bad value named."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest

from cli import serve
from cli.main import main
from config.settings import InvalidSetting, MiB, Settings, variable

README = Path(__file__).resolve().parent.parent / "README.md"


def shown(name: str, default: Any) -> str:
    """A default as the README shows it: sizes in MiB or MB, switches as 0/1."""
    if isinstance(default, bool):
        return str(int(default))
    if name.endswith("_bytes") and default % MiB == 0:
        return f"{default // MiB} MiB"
    if name.endswith("_bytes") and default % 1_000_000 == 0:
        return f"{default // 1_000_000} MB"
    if default is None:
        return "(unset)"
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return f"`{default}`" if isinstance(default, str) else str(default)


def settings_table() -> str:
    rows = [
        f"| `{variable(name)}` | {shown(name, field.default)} | {field.description} |"
        for name, field in Settings.model_fields.items()
    ]
    return "\n".join(["| variable | default | what |", "|---|---|---|", *rows])


def test_the_readme_lists_every_setting_with_its_default_and_what_it_does():
    table = settings_table()
    assert table in README.read_text(encoding="utf-8"), f"README.md's settings table should be:\n{table}"


def test_the_settings_are_read_from_the_environment_and_an_empty_variable_is_the_default(monkeypatch):
    monkeypatch.setenv("DOSELEDGER_MAX_BODY_BYTES", "3145728")
    monkeypatch.setenv("DOSELEDGER_OPENTELEMETRY", "1")
    monkeypatch.setenv("DOSELEDGER_IMPORT_DIR", "/srv/uploads")
    monkeypatch.setenv("DOSELEDGER_GROUP_COMMIT_MS", "")
    monkeypatch.setenv("DOSELEDGER_MAX_IMPORT_BYTES", "2e8")  # a whole number, however written
    settings = Settings()
    assert (settings.max_body_bytes, settings.opentelemetry, settings.import_dir) == (
        3 * MiB,
        True,
        "/srv/uploads",
    )
    assert (settings.group_commit_ms, settings.max_import_bytes) == (2, 200_000_000)
    assert Settings(group_commit_ms=0).group_commit_ms == 0  # given wins over the environment


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DOSELEDGER_MAX_BODY_BYTES", "lots"),
        ("DOSELEDGER_MAX_BODY_BYTES", "1.5"),
        ("DOSELEDGER_OPENTELEMETRY", "maybe"),
        ("DOSELEDGER_READ_WAIT_SECONDS", "-1"),
        ("DOSELEDGER_PORT", "http"),
        ("DOSELEDGER_WORKERS", "0"),
        ("DOSELEDGER_KEEP_ALIVE_SECONDS", "0"),
        ("DOSELEDGER_BACKLOG", "many"),
    ],
)
def test_a_bad_value_stops_with_an_error_naming_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(InvalidSetting, match=rf"^{name}: .*\(got '?{re.escape(value)}'?\)"):
        Settings()


def test_the_cli_names_a_bad_variable_and_does_nothing(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("DOSELEDGER_TOKEN_CACHE_SECONDS", "soon")
    url = f"sqlite:///{tmp_path}/ledger.db"
    monkeypatch.setenv("DOSELEDGER_DATABASE_URL", url)  # main() sets it; restored after
    assert main(["--database-url", url, "token", "create", "--role", "admin"]) == 2
    assert "DOSELEDGER_TOKEN_CACHE_SECONDS" in capsys.readouterr().err
    assert not (tmp_path / "ledger.db").exists()


def test_serve_listens_where_its_options_say_else_where_the_settings_say(monkeypatch):
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    monkeypatch.setenv("DOSELEDGER_PORT", "9001")
    monkeypatch.setenv("DOSELEDGER_WORKERS", "3")
    assert serve.listening(parser.parse_args([]), Settings()) == ("127.0.0.1", 9001, 3)
    given = parser.parse_args(["--host", "0.0.0.0", "--port", "8080", "--workers", "2"])
    assert serve.listening(given, Settings()) == ("0.0.0.0", 8080, 2)
