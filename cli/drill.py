"""Rehearse an operation on clusters of the drill's own: `doseledger drill failover`.

  doseledger drill failover [--async] [--clients 32] [--primary-port 5434] [--standby-port 5435]
  doseledger drill failover --patroni [--clients 32]

A primary and a standby are made (Debian's pg_createcluster; with --patroni, two Patroni members
and an etcd), the ledger served on them by libpq's multi-host URL, and single doses sent while
the primary is stopped at once and the standby takes over (promoted by hand, or by Patroni).
Prints the time to the first write after the stop, the acknowledged doses lost, whether the
views caught up and `replay verify --all` and `reconcile` came out clean; exits 1 if anything
acknowledged was lost or a check failed (--async: only on a failed check). Needs root (or the
postgres user) and ports of its own; the machine's own clusters are never touched, and the
drill's are removed at the end, with their slots.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="drill", required=True)
    failover = actions.add_parser("failover", help="the primary fails under load; a standby takes over")
    failover.add_argument("--async", dest="asynchronous", action="store_true",
                          help="asynchronous replication (counts the doses it loses)")  # fmt: skip
    failover.add_argument("--patroni", action="store_true", help="Patroni and etcd promote the standby")
    failover.add_argument("--clients", type=int, default=32, help="threads sending single doses (32)")
    failover.add_argument("--primary-port", type=int, default=5434)
    failover.add_argument("--standby-port", type=int, default=5435)
    failover.add_argument("--name", default="drill", help="prefix of the drill's cluster names (drill)")
    failover.add_argument("--before", type=float, default=3.0, help="seconds of load before the stop (3)")
    failover.add_argument(
        "--after", type=float, default=3.0, help="seconds of load after the first write (3)"
    )
    failover.add_argument("--json", action="store_true", help="the report as JSON")


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from drills.failover import Topology, drill

    def say(line: str) -> None:
        if not args.json:
            print(f"drill: {line}", flush=True)

    topology: Topology
    if args.patroni:
        from drills.patroni import PatroniPair

        topology = PatroniPair.named(args.name, args.primary_port, args.standby_port).create(say)
    else:
        from drills.pair import Pair

        say(f"making a primary on {args.primary_port} and a standby on {args.standby_port}")
        topology = Pair.named(args.name, args.primary_port, args.standby_port, not args.asynchronous).create()
    report = drill(topology, clients=args.clients, before=args.before, after=args.after, say=say)
    if args.json:
        print(json.dumps({**asdict(report), "clean": report.clean}, indent=1))
    else:
        print("\n".join(report.lines()))
        if report.verify_exit:
            print(report.verify_output[-2000:])
        if report.reconcile_exit:
            print(report.reconcile_output[-2000:])
    if args.asynchronous:  # the loss is the measurement; the checks must still pass
        checks = report.views_caught_up_s is not None and not report.unexpected
        return 0 if checks and report.stop_to_first_write_s is not None else 1
    return 0 if report.clean else 1
