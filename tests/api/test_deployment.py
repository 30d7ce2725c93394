"""docker-compose.yml: it parses, and the API's command is a real `doseledger serve` command line."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from cli import serve

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_postgres_with_a_volume_and_healthcheck_then_the_api_and_the_projector():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert set(services) == {"postgres", "api", "projector"}
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
    for name in ("api", "projector"):
        assert services[name]["environment"]["DOSELEDGER_DATABASE_URL"].startswith("postgresql://")


def test_the_api_and_the_projector_share_one_kept_secrets_folder():
    """Each container making its own would refuse to start on the store the other keyed, and a
    folder inside the container would be lost with it: the ids secret lives in a named volume."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    folders = {services[name]["environment"]["DOSELEDGER_SECRETS_DIR"] for name in ("api", "projector")}
    assert len(folders) == 1
    (folder,) = folders
    for name in ("api", "projector"):
        assert f"secrets:{folder}" in services[name]["volumes"]
    assert "secrets" in compose["volumes"]
    assert f"/{folder.strip('/')}" in (ROOT / "Dockerfile").read_text()  # made, owned by the service's user
