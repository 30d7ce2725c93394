"""`doseledger` — one console script, one sub-command per job."""

from __future__ import annotations

import argparse
import importlib
import sys

from usecases.heap import settle_collector

# sub-command → module defining add_arguments(parser) and run(args) -> int
COMMANDS = {
    "corrections": "cli.corrections",
    "demo": "cli.demo",
    "import": "cli.retro_import",
    "replay": "cli.replay",
    "serve": "cli.serve",
    "token": "cli.token",
    "project": "cli.project",
    "rebuild": "cli.rebuild",
    "reconcile": "cli.reconcile",
    "bench": "cli.bench",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="doseledger", description=__doc__)
    parser.add_argument("--database-url", help="storage URL (default: $DOSELEDGER_DATABASE_URL "
                        "or sqlite:///var/ledger.db)")
    sub = parser.add_subparsers(dest="command", required=True)
    modules = {}
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        modules[name] = module
        module.add_arguments(sub.add_parser(name, help=module.__doc__.splitlines()[0]))
    args = parser.parse_args(argv)
    settle_collector()
    if args.database_url:
        import os

        os.environ["DOSELEDGER_DATABASE_URL"] = args.database_url
    return int(modules[args.command].run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
