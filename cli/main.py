"""`doseledger` — one console script, one sub-command per job."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from config.settings import InvalidSetting, Settings, variable
from store.secrets import MissingSecret
from usecases.heap import settle_collector
from usecases.keyed_ids import StoreRefused

# sub-command → module defining add_arguments(parser) and run(args) -> int
COMMANDS = {
    "access": "cli.access",
    "anchor": "cli.anchor",
    "certificates": "cli.certificates",
    "corrections": "cli.corrections",
    "cvrs": "cli.cvrs",
    "demo": "cli.demo",
    "drill": "cli.drill",
    "erase": "cli.erase",
    "hl7": "cli.hl7",
    "import": "cli.retro_import",
    "mllp": "cli.mllp",
    "replay": "cli.replay",
    "serve": "cli.serve",
    "status": "cli.status",
    "token": "cli.token",
    "keys": "cli.keys",
    "project": "cli.project",
    "rebuild": "cli.rebuild",
    "reconcile": "cli.reconcile",
    "rekey": "cli.rekey",
    "rules": "cli.rules",
    "bench": "cli.bench",
    "verify-qr": "cli.verify_qr",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="doseledger", description=__doc__)
    url = Settings.model_fields["database_url"]
    parser.add_argument(
        "--database-url", help=f"{url.description} (default: ${variable('database_url')} or {url.default})"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    modules = {}
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        modules[name] = module
        module.add_arguments(sub.add_parser(name, help=(module.__doc__ or name).splitlines()[0]))
    args = parser.parse_args(argv)
    settle_collector()
    if args.database_url:
        # Through the environment: every command, its workers and subprocesses read it there.
        os.environ[variable("database_url")] = args.database_url
    try:
        Settings()  # a bad variable stops every command here, named, before any work
    except InvalidSetting as error:
        print(f"doseledger: {error}", file=sys.stderr)
        return 2
    try:
        return int(modules[args.command].run(args) or 0)
    except (MissingSecret, StoreRefused) as error:
        # A store and a secrets folder that do not belong together: the operator's to fix, said
        # in one line (no personal data in it) rather than a traceback.
        print(f"doseledger: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
