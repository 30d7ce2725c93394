"""Make or revoke an API token (only its sha256 is stored; the token is printed once).

doseledger token create --role site --site 01-TYT-001 [--site ...] [--name NAME] [--expires 90d]
doseledger token create --role province --province 01 [--province 79 ...]
doseledger token revoke PRINCIPAL_ID_OR_TOKEN --reason "left the project"
"""

from __future__ import annotations

import argparse
import getpass
import re
from datetime import date, datetime, timedelta

from ledger.errors import LedgerError
from ledger.principal import ROLES
from ledger.rules import ICT, now_ict
from usecases.application import DoseLedger
from usecases.principals import issue_token, revoke_token

_DURATION = re.compile(r"^(\d+)([dh])$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="make a token; it is printed on the last line")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument(
        "--site",
        action="append",
        default=[],
        metavar="ID",
        help="a site this token records for (site role; repeat for more)",
    )
    create.add_argument(
        "--province",
        action="append",
        default=[],
        metavar="CODE",
        help="a province this token reads (province role; repeat for more)",
    )
    create.add_argument("--name", help="who or what holds it (shown in audits)")
    create.add_argument(
        "--expires",
        type=expiry,
        metavar="WHEN",
        help="a date (the token ends at its start, Vietnam time), a date-time, "
        "or a duration such as 90d or 12h",
    )
    revoke = sub.add_parser("revoke", help="revoke a token by its principal id or the token itself")
    revoke.add_argument("token_or_id")
    revoke.add_argument("--reason", required=True)


def expiry(value: str) -> datetime:
    """'90d' / '12h' from now; an ISO date or date-time (Vietnam time when no zone is given)."""
    found = _DURATION.match(value.strip())
    if found:
        amount, unit = int(found[1]), found[2]
        return now_ict() + (timedelta(days=amount) if unit == "d" else timedelta(hours=amount))
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date, date-time or duration: {value!r}") from None
    if len(value.strip()) == 10:
        moment = datetime.combine(date.fromisoformat(value.strip()), datetime.min.time())
    return moment if moment.tzinfo else moment.replace(tzinfo=ICT)


def run(args: argparse.Namespace) -> int:
    actor = {"principal_id": f"cli:{getpass.getuser()}", "role": "admin"}
    with DoseLedger() as ledger:
        try:
            if args.action == "create":
                token, principal = issue_token(
                    ledger,
                    role=args.role,
                    sites=args.site,
                    provinces=args.province,
                    name=args.name,
                    expires_at=args.expires,
                    actor=actor,
                )
                scope = principal.sites or principal.provinces
                print(
                    f"principal {principal.id}  role {principal.role}"
                    + (f"  scope {','.join(scope)}" if scope else "")
                    + (f"  expires {principal.expires_at}" if principal.expires_at else "")
                )
                print("The token is shown once; only its hash is stored:")
                print(token)
            else:
                principal = revoke_token(ledger, args.token_or_id, args.reason, actor=actor)
                print(f"revoked principal {principal.id} ({principal.role})")
        except LedgerError as error:
            print(f"doseledger token: {error}")
            return 2
    return 0
