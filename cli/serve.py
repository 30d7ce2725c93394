"""Serve the HTTP API on uvicorn; with --demo, seed an empty store and print a token per role.

  doseledger serve [--host 127.0.0.1] [--port 8000] [--workers N] [--demo]

The tables are created here, once, before any worker starts. Behind a reverse proxy,
DOSELEDGER_TRUSTED_PROXIES names it: its X-Forwarded-For is then the client's address. With the embedded SQLite store the
projections run in this process (background threads); with PostgreSQL they run in their own
process (`doseledger project`), unless --projections embedded. Where the projections run, the
interval anchors are written too (DOSELEDGER_ANCHOR_INTERVAL_SECONDS, cli.anchor).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from typing import Any

from cli.anchor import start_anchoring
from config.settings import Settings, variable
from ledger.principal import ROLES
from signing.keys import KEYS_DIR_KEY, PASSPHRASE_KEY, SigningKeys, SigningKeysError, keys_directory
from store.secrets import SECRETS_KEY, Secrets
from store.url import URL_KEY, is_postgres
from usecases.application import DoseLedger
from usecases.principals import issue_token

DEMO_SCOPES: dict[str, dict[str, list[str]]] = {
    "site": {"sites": ["01-TYT-001", "01-LD-01"]},
    "province": {"provinces": ["01"]},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # No defaults here: an option not given is the setting (its variable, else its default).
    parser.add_argument("--host", help=_setting_help("host"))
    parser.add_argument("--port", type=int, help=_setting_help("port"))
    parser.add_argument("--workers", type=int, help=_setting_help("workers"))
    parser.add_argument(
        "--demo", action="store_true", help="seed demo data into an empty store; print one token per role"
    )
    parser.add_argument("--demo-people", type=int, default=2000, help=argparse.SUPPRESS)
    parser.add_argument(
        "--projections",
        choices=("auto", "embedded", "external"),
        default="auto",
        help="auto: embedded with SQLite, external (doseledger project) with PostgreSQL",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")


def _setting_help(name: str) -> str:
    field = Settings.model_fields[name]
    return f"{field.description} (default: ${variable(name)} or {field.default})"


def listening(args: argparse.Namespace, settings: Settings) -> tuple[str, int, int]:
    """The host, port and workers: each option given, else its setting."""
    return (
        args.host if args.host is not None else settings.host,
        args.port if args.port is not None else settings.port,
        args.workers if args.workers is not None else settings.workers,
    )


def forwarding(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for X-Forwarded-For and -Proto: believed from the trusted proxies only.

    With none (the default), from no one: uvicorn's own default believes 127.0.0.1, and
    anything on the host could then claim any client address, escaping the per-address limits.
    """
    proxies = settings.proxies()
    return {"proxy_headers": bool(proxies), "forwarded_allow_ips": proxies or None}


def run(args: argparse.Namespace) -> int:
    import uvicorn

    settings = Settings()
    host, port, workers = listening(args, settings)
    url = settings.database_url
    os.environ[URL_KEY] = url  # the workers build their app from the environment
    with DoseLedger(env={URL_KEY: url}) as ledger:  # creates the tables before workers race to
        if args.demo:
            demo(ledger, people=args.demo_people)
    if args.demo:
        demo_signing_keys(settings)
    embedded = args.projections == "embedded" or (args.projections == "auto" and not is_postgres(url))
    from projections import open_views

    open_views(url).close()  # the views' tables too
    projector, anchoring = None, None
    if embedded:
        from cli.certificates import signing_from_env
        from projections.running import start_embedded

        projector = start_embedded(url, sign=signing_from_env(settings))
        # The process that runs the projections writes the interval anchors (cli.anchor): this
        # one, not a uvicorn worker, so one per deployment.
        anchoring = start_anchoring(settings)
    metrics_dir = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker counts in its own files here; a scrape of any worker adds them up.
        metrics_dir = tempfile.mkdtemp(prefix="doseledger-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    print(
        f"doseledger on http://{host}:{port}/docs  ({workers} worker(s), "
        f"projections {'embedded' if embedded else 'external'}, store {redact(url)})",
        flush=True,
    )
    try:
        uvicorn.run(
            "api.app:from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=args.access_log,
            log_level="info",
            timeout_keep_alive=settings.keep_alive_seconds,
            backlog=settings.backlog,
            **forwarding(settings),
        )
    finally:
        if anchoring is not None:
            stopping, thread = anchoring
            stopping.set()
            thread.join(timeout=10)
        if projector is not None:
            projector.stop()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def demo(ledger: DoseLedger, *, people: int) -> None:
    from cli.demo import print_summary, seed

    if ledger.head():
        print(f"The store already holds {ledger.head()} events: not seeding it again.")
    else:
        print_summary(seed(ledger, people=people))
    actor: dict[str, Any] = {"principal_id": "serve --demo", "role": "admin"}
    print("\nDemo tokens (paste one into Authorize at /docs):")
    for role in ROLES:
        scope = DEMO_SCOPES.get(role, {})
        token, _ = issue_token(
            ledger,
            role=role,
            name=f"demo {role}",
            actor=actor,
            sites=scope.get("sites", ()),
            provinces=scope.get("provinces", ()),
        )
        where = ",".join(scope.get("sites") or scope.get("provinces") or []) or "-"
        print(f"  {role:<9} {where:<22} {token}")
    print()


# The demo's signing passphrase, when none is given: a secret of the secrets folder (random,
# owner-only, outside the repository and the store, made once), so a second demo start opens the
# keys the first one made.
DEMO_PASSPHRASE = "demo-signing-passphrase"


def demo_signing_keys(settings: Settings) -> None:
    """Signing keys for the demo, made when there are none; the passphrase handed to the workers.

    The passphrase is DOSELEDGER_SIGNING_PASSPHRASE when set, else the demo's own, kept in the
    secrets folder. Kept there, it sits beside the other secrets: fine for a demo, not for a
    deployment, which gives its own passphrase from where it keeps passwords."""
    passphrase = settings.signing_passphrase
    if not passphrase:
        secrets = Secrets.from_env({SECRETS_KEY: settings.secrets_dir} if settings.secrets_dir else None)
        secrets.key(DEMO_PASSPHRASE, create=True)
        passphrase = secrets.path(DEMO_PASSPHRASE).read_text(encoding="ascii").strip()
        os.environ[PASSPHRASE_KEY] = passphrase  # the workers, and what they start, sign with it
    folder = keys_directory({KEYS_DIR_KEY: settings.signing_keys_dir} if settings.signing_keys_dir else None)
    keys = SigningKeys(folder, passphrase)
    try:
        if not keys.exists():
            keys.create(organisation=settings.certificate_issuer)
            print(f"Signing keys made in {folder} (doseledger keys list shows them).")
        else:
            keys.dcc_signer()  # opens with this passphrase, or says so now rather than at a signature
            print(f"Signing keys: those in {folder}.")
    except SigningKeysError as error:
        print(f"Signing keys: {error}; certificates will not be signed.")


def redact(url: str) -> str:
    """The URL without its password, for the start-up line."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if not parts.password:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))
