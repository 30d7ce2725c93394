"""Make, list, rotate or revoke API tokens (only a token's sha256 is stored; it is printed once).

doseledger token create --role site --site 01-TYT-001 [--site ...] [--name NAME] [--expires 90d]
doseledger token create --role province --province 01 [--province 79 ...]
doseledger token list [--role site] [--revoked | --valid] [--json]
doseledger token rotate PRINCIPAL_ID [--reason "yearly rotation"] [--expires 365d]
doseledger token revoke PRINCIPAL_ID_OR_TOKEN --reason "left the project"
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from ledger.errors import LedgerError
from ledger.principal import ROLES, Principal
from ledger.rules import ICT, now_ict
from usecases.application import DoseLedger
from usecases.principals import issue_token, principals, revoke_token, rotate_token

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
    listing = sub.add_parser("list", help="the tokens' principals (never a token itself)")
    listing.add_argument("--role", choices=ROLES)
    state = listing.add_mutually_exclusive_group()
    state.add_argument(
        "--revoked", dest="revoked", action="store_const", const=True, help="revoked ones only"
    )
    state.add_argument(
        "--valid", dest="revoked", action="store_const", const=False, help="unrevoked ones only"
    )
    listing.add_argument("--json", action="store_true", help="one JSON object a line")
    rotate = sub.add_parser("rotate", help="a new token for the same role and scope; the old one revoked")
    rotate.add_argument("principal_id", type=UUID)
    rotate.add_argument("--reason", help="why (default: rotated)")
    rotate.add_argument(
        "--expires", type=expiry, metavar="WHEN", help="the new token's expiry (default: the old one's)"
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


def described(principal: Principal) -> dict[str, Any]:
    return {
        "principal_id": str(principal.id),
        "role": principal.role,
        "sites": principal.sites,
        "provinces": principal.provinces,
        "name": principal.name,
        "expires_at": principal.expires_at,
        "issued_at": principal.created_on.isoformat(),
        "revoked": principal.revoked,
    }


def line(principal: Principal) -> str:
    scope = ",".join(principal.sites or principal.provinces) or "-"
    return "  ".join(
        [
            str(principal.id),
            f"{principal.role:<8}",
            f"{scope:<22}",
            "revoked" if principal.revoked else "valid  ",
            f"expires {principal.expires_at}" if principal.expires_at else "no expiry",
            principal.name or "",
        ]
    ).rstrip()


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
            elif args.action == "list":
                for found in principals(ledger, role=args.role, revoked=args.revoked):
                    print(json.dumps(described(found), ensure_ascii=False) if args.json else line(found))
            elif args.action == "rotate":
                token, principal, old = rotate_token(
                    ledger, args.principal_id, args.reason, expires_at=args.expires, actor=actor
                )
                print(f"revoked principal {old.id}; its scope is now principal {principal.id}")
                print("The token is shown once; only its hash is stored:")
                print(token)
            else:
                principal = revoke_token(ledger, args.token_or_id, args.reason, actor=actor)
                print(f"revoked principal {principal.id} ({principal.role})")
        except LedgerError as error:
            print(f"doseledger token: {error}")
            return 2
    return 0
