"""DOSELEDGER_DATABASE_URL mapped to eventsourcing's settings: one host, or libpq's several."""

from __future__ import annotations

import pytest

from store.url import persistence_env


def test_a_multi_host_url_passes_every_host_and_port_and_asks_for_the_primary():
    env = persistence_env(
        "postgresql://postgres@10.0.0.1:5434,10.0.0.2:5435/ledger?target_session_attrs=read-write"
    )
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"]) == ("10.0.0.1,10.0.0.2", "5434,5435")
    assert env["POSTGRES_TARGET_SESSION_ATTRS"] == "read-write"
    assert env["POSTGRES_PRE_PING"] == "yes"  # connections left to a dead primary are checked out
    assert (env["POSTGRES_DBNAME"], env["POSTGRES_USER"]) == ("ledger", "postgres")


def test_one_host_maps_as_before_and_hosts_without_ports_take_5432():
    one = persistence_env("postgresql://u:p%40ss@db:6000/x?schema=s")
    assert (one["POSTGRES_HOST"], one["POSTGRES_PORT"], one["POSTGRES_PASSWORD"]) == ("db", "6000", "p@ss")
    assert (one["POSTGRES_SCHEMA"], one["POSTGRES_PRE_PING"], one["POSTGRES_TARGET_SESSION_ATTRS"]) == (
        "s",
        "no",
        "",
    )
    several = persistence_env("postgresql://u@[::1],db2:5433/x?pre_ping=no")
    assert (several["POSTGRES_HOST"], several["POSTGRES_PORT"], several["POSTGRES_PRE_PING"]) == (
        "::1,db2",
        "5432,5433",
        "no",
    )


def test_a_bad_port_or_session_attribute_is_named_without_the_password():
    with pytest.raises(ValueError, match="port of host 2") as error:
        persistence_env("postgresql://u:secret@h1:5432,h2:x/db")
    assert "secret" not in str(error.value)
    with pytest.raises(ValueError, match="target_session_attrs must be one of"):
        persistence_env("postgresql://u@h1,h2/db?target_session_attrs=leader")
