"""Show, list or adopt the series rules versions that number certificates' doses (dn/sd).

doseledger rules show [--version N]     the version in force (or version N), as JSON
doseledger rules list                   every version: when it was adopted, by whom, why
doseledger rules adopt FILE --reason TEXT
                                        adopt the version FILE holds (the one in force plus
                                        one); prints the new version. Exit 2 when refused.
"""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path
from typing import Any

from ledger.errors import LedgerError
from ledger.values import Actor
from usecases import series_rules
from usecases.application import DoseLedger


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    show = sub.add_parser("show", help="a version's rules as JSON (default: the one in force)")
    show.add_argument("--version", type=int, metavar="N")
    sub.add_parser("list", help="every version, with when, by whom and why it was adopted")
    adopt = sub.add_parser("adopt", help="adopt the version a JSON file holds")
    adopt.add_argument("file", type=Path, metavar="FILE")
    adopt.add_argument("--reason", required=True, help="why this version (no personal data)")


def run(args: argparse.Namespace) -> int:
    with DoseLedger() as ledger:
        try:
            if args.action == "show":
                rules = (
                    series_rules.in_force(ledger)
                    if args.version is None
                    else series_rules.version(ledger, args.version)
                )
                print(json.dumps(rules.data, indent=1, ensure_ascii=False))
            elif args.action == "list":
                for adoption in series_rules.adoptions(ledger):
                    at = (
                        adoption.adopted_at.isoformat(timespec="seconds")
                        if adoption.adopted_at
                        else "shipped"
                    )
                    by = adoption.actor["principal_id"] if adoption.actor else "-"
                    print(f"{adoption.version}\t{at}\t{by}\t{adoption.reason}")
            else:
                data = _read(args.file)
                if data is None:
                    return 2
                actor = Actor(f"cli:{getpass.getuser()}", "admin")
                adopted = series_rules.adopt(ledger, data, args.reason, actor)
                print(f"adopted series rules version {adopted.version}")
        except LedgerError as error:
            print(f"doseledger rules {args.action}: {error.field}: {error.message}")
            return 2
    return 0


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text("utf-8"))
    except OSError as error:
        print(f"doseledger rules adopt: file: cannot be read ({error.strerror})")
        return None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        print(f"doseledger rules adopt: file: not JSON ({error})")
        return None
    if not isinstance(data, dict):
        print("doseledger rules adopt: file: must hold a JSON object")
        return None
    return data
