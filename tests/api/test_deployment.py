"""docker-compose.yml: it parses, the API's command is a real `doseledger serve` command line, and
no password has a default."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli import mllp, serve

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_postgres_with_a_volume_and_healthcheck_then_the_api_and_the_projector():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert set(services) == {"postgres", "replica", "api", "projector", "mllp"}
    assert services["postgres"]["healthcheck"]["test"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
    assert services["api"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["projector"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert services["projector"]["command"] == ["doseledger", "project"]
    program, command, *args = services["api"]["command"]
    assert (program, command) == ("doseledger", "serve")
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    assert parser.parse_args(args).projections == "external"  # the projector runs them
    for name in ("api", "projector", "mllp"):
        assert services[name]["environment"]["DOSELEDGER_DATABASE_URL"].startswith("postgresql://")
    program, command, *args = services["mllp"]["command"]
    assert (program, command) == ("doseledger", "mllp")
    parser = argparse.ArgumentParser()
    mllp.add_arguments(parser)
    assert parser.parse_args(args).port == 2575
    assert services["mllp"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert services["mllp"]["environment"]["DOSELEDGER_MLLP_PEERS_FILE"]


def test_compose_keeps_a_site_session_open_across_its_pause_between_doses():
    """A site sends a dose every 30-40 s on one kept-alive connection: a server that closes an
    idle connection sooner makes every dose pay a new one; the defaults must outlive the pause,
    and the API's workers may each hold thousands of connections (one open file each)."""
    from config.settings import Settings

    api = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["api"]
    environment = {
        name: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value) for name, value in api["environment"].items()
    }
    settings = Settings(
        keep_alive_seconds=environment["DOSELEDGER_KEEP_ALIVE_SECONDS"],
        backlog=environment["DOSELEDGER_BACKLOG"],
    )
    assert settings.keep_alive_seconds > 40
    assert settings.backlog > Settings().backlog
    assert api["ulimits"]["nofile"]["hard"] >= 20_000


def test_compose_reads_the_projections_from_a_streaming_standby_of_postgres():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    replica = services["replica"]
    script = " ".join(replica["command"])
    assert "pg_basebackup -h postgres" in script and "-R -X stream -C -S replica" in script
    assert any(v.endswith(":/var/lib/postgresql/data") for v in replica["volumes"])
    assert replica["volumes"][0].split(":")[0] in compose["volumes"]
    assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert replica["healthcheck"]["test"]
    # the primary lets it replicate, from the script its image runs once at initialisation
    mounted = [v for v in services["postgres"]["volumes"] if "docker-entrypoint-initdb.d" in v]
    assert len(mounted) == 1
    script_file = ROOT / mounted[0].split(":")[0]
    assert "replication" in script_file.read_text() and script_file.stat().st_mode & 0o111
    api = services["api"]
    read = re.fullmatch(
        r"postgresql://doseledger:(.*)@replica:5432/doseledger",
        api["environment"]["DOSELEDGER_READ_DATABASE_URL"],
    )
    assert (
        read is not None
        and read[1]
        == re.fullmatch(
            r"postgresql://doseledger:(.*)@postgres:5432/doseledger",
            api["environment"]["DOSELEDGER_DATABASE_URL"],
        )[1]
    )
    assert api["depends_on"]["replica"]["condition"] == "service_healthy"
    for name in ("projector", "mllp"):  # writers: the primary only
        assert "DOSELEDGER_READ_DATABASE_URL" not in services[name]["environment"]


SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)
# Compose's interpolation: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<rest>[^}]*)\}")


def strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in strings(key) + strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return [node] if isinstance(node, str) else []


def test_compose_has_no_default_password_and_requires_one_from_the_environment():
    text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    defaults = [
        m[0]
        for s in strings(compose)
        for m in INTERPOLATION.finditer(s)
        if SECRET_NAME.search(m["name"]) and m["op"] in (":-", "-")
    ]
    assert defaults == [], f"a secret with a default value: {defaults}"
    postgres = compose["services"]["postgres"]["environment"]
    required = INTERPOLATION.fullmatch(postgres["POSTGRES_PASSWORD"])
    assert required is not None and (required["name"], required["op"]) == ("POSTGRES_PASSWORD", ":?")
    assert required["rest"].strip(), "the error should say where to set it"
    for name in ("api", "projector", "mllp"):
        url = compose["services"][name]["environment"]["DOSELEDGER_DATABASE_URL"]
        # (not urlsplit: the `?` of `:?` would start a query)
        password = re.fullmatch(r"postgresql://doseledger:(.*)@postgres:5432/doseledger", url)
        assert password is not None, url
        variable = INTERPOLATION.fullmatch(password[1])
        assert variable is not None and (variable["name"], variable["op"]) == ("POSTGRES_PASSWORD", ":?"), url
    # nor a literal one
    literal = [s for s in strings(compose) if "PASSWORD" in s.upper() and "=" in s and "${" not in s]
    assert literal == []


@pytest.mark.parametrize(
    ("setting", "volume"), [("DOSELEDGER_SECRETS_DIR", "secrets"), ("DOSELEDGER_ANCHOR_DIR", "anchors")]
)
def test_the_api_and_the_projector_share_one_kept_folder(setting, volume):
    """Secrets: each container making its own would refuse to start on the store the other keyed.
    Anchors: the projector writes them, `replay verify --all` in the API's container reads them.
    A folder inside a container would be lost with it: each lives in a named volume."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    folders = {services[name]["environment"][setting] for name in ("api", "projector", "mllp")}
    assert len(folders) == 1
    (folder,) = folders
    for name in ("api", "projector", "mllp"):
        assert f"{volume}:{folder}" in services[name]["volumes"]
    assert volume in compose["volumes"]
    assert f"/{folder.strip('/')}" in (ROOT / "Dockerfile").read_text()  # made, owned by the service's user
