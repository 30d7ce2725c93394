"""Create, rotate or list the certificate signing keys (the private keys never leave their files).

doseledger keys create [--country VN] [--organisation NAME]
doseledger keys rotate
doseledger keys list [--json]

The folder is DOSELEDGER_SIGNING_KEYS_DIR; create and rotate need DOSELEDGER_SIGNING_PASSPHRASE,
which encrypts the private keys. Listing needs no passphrase: it shows public facts only.
"""

from __future__ import annotations

import argparse
import json
import sys

from config.settings import Settings
from signing.keys import KEYS_DIR_KEY, PASSPHRASE_KEY, KeyInfo, NoKeys, SigningKeys, SigningKeysError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="a CSCA, a DSC it issues and a SMART Health Cards key")
    create.add_argument("--country", default="VN", help="the ISO 3166 two-letter country (default VN)")
    create.add_argument(
        "--organisation",
        help="the organisation named in the certificates (default: the EU DCC certificate issuer, "
        "DOSELEDGER_CERTIFICATE_ISSUER)",
    )
    sub.add_parser("rotate", help="a new DSC and SHC key become current; the old ones keep verifying")
    listing = sub.add_parser("list", help="every key ever made: kind, kid, validity, current or retired")
    listing.add_argument("--json", action="store_true", help="one JSON object a line")


def signing_keys(settings: Settings) -> SigningKeys:
    """The keys the settings name (the same variables SigningKeys.from_env reads)."""
    given = {KEYS_DIR_KEY: settings.signing_keys_dir, PASSPHRASE_KEY: settings.signing_passphrase}
    return SigningKeys.from_env({name: value for name, value in given.items() if value})


def line(key: KeyInfo) -> str:
    until = f"{key.not_after:%Y-%m-%d}" if key.not_after else "-"
    state = "current" if key.current else "retired"
    return f"{key.kind:<5} {key.kid:<44} {key.not_before:%Y-%m-%d} to {until:<10}  {state}"


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    keys = signing_keys(settings)
    try:
        if args.action == "create":
            made = keys.create(
                country=args.country, organisation=args.organisation or settings.certificate_issuer
            )
            print(f"signing keys created in {keys.directory}:")
            for key in made:
                print(line(key))
        elif args.action == "rotate":
            made = keys.rotate()
            print(f"signing keys rotated in {keys.directory}; now current:")
            for key in made:
                if key.current and key.kind != "csca":
                    print(line(key))
        else:
            listed = keys.list()
            if not listed:
                raise NoKeys(keys.directory)
            for key in listed:
                print(json.dumps(key.as_dict()) if args.json else line(key))
    except SigningKeysError as error:
        print(f"doseledger keys: {error}", file=sys.stderr)
        return 2
    return 0
