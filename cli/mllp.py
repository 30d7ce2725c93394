"""Listen for HL7 v2 VXU messages over MLLP (the TCP framing of HL7 interface engines).

  doseledger mllp [--host HOST] [--port 2575] [--peers FILE]
                  [--tls-cert FILE --tls-key FILE --tls-ca FILE]
                  [--province CODE] [--test-codes]

Only the peers of the peers file are served (`DOSELEDGER_MLLP_PEERS_FILE`, or --peers): over
plain TCP a peer is known by its address, over TLS by its client certificate's subject (the
certificate signed by --tls-ca). Each message gets one ACK, in order: AA booked, AE refused for
its content, AR rejected (unreadable, over `DOSELEDGER_MLLP_MAX_MESSAGE_BYTES`, or for a site
outside the peer's sites). Messages arriving together from every connection are booked in one
transaction, as `POST /v1/hl7v2` books a batch.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from config.settings import Settings
from intake.feeds import FeedIssue
from intake.hl7v2.ack import AR, build_ack
from intake.hl7v2.receiving import receive
from intake.mllp import Gatherer, MllpServer, Peer, Peers, PeersFileError, server_tls
from ledger.values import Actor
from usecases.application import DoseLedger

log = logging.getLogger("doseledger.mllp")
# Messages booked in one call at most: a transaction's size when every connection is busy.
MAX_BATCH = 500


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=2575, help="the port to listen on (default 2575)")
    parser.add_argument("--peers", type=Path, metavar="FILE", help="the peers file (default: the setting)")
    parser.add_argument("--tls-cert", type=Path, metavar="FILE", help="the listener's certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, metavar="FILE", help="its private key (PEM)")
    parser.add_argument(
        "--tls-ca", type=Path, metavar="FILE", help="the CA that signs the peers' certificates"
    )
    parser.add_argument(
        "--province",
        metavar="CODE",
        help="the people's province when neither the message nor its site in the directory gives one "
        "(default: the setting DOSELEDGER_FEED_DEFAULT_PROVINCE)",
    )
    parser.add_argument(
        "--test-codes", action="store_true", help="take CDC's placeholder CVX 900-902 (test feeds only)"
    )


class Listener:
    """The HL7 side of the MLLP server: each message answered with its ACK, the messages of
    every connection gathered into batches booked by `intake.hl7v2.receiving.receive`."""

    def __init__(
        self,
        ledger: DoseLedger,
        *,
        default_province: str | None = None,
        test_codes: bool = False,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.ledger = ledger
        self.default_province = default_province
        self.test_codes = test_codes
        self.batches: Gatherer[tuple[bytes, Peer], bytes] = Gatherer(self.book, max_batch)

    async def answer(self, message: bytes, peer: Peer) -> bytes:
        return await self.batches.submit((message, peer))

    def refuse(self, head: bytes, reason: str) -> bytes:
        """The AR of a message too large to read: its control id read from the MSH at its head."""
        issue = FeedIssue("MSH", reason, "error", kind="malformed")
        return build_ack(AR, control_id(head), (issue,)).encode("utf-8")

    def book(self, items: Sequence[tuple[bytes, Peer]]) -> list[bytes]:
        """ACKs for messages from any peers, in order: each peer's messages received together
        (one transaction). A frame that is not one message is answered without booking: AR for
        several (the sender could not tell which ACK is whose); one in batch headers, or none, alone."""
        answers: list[bytes | None] = [None] * len(items)
        by_peer: dict[str, list[int]] = {}
        for n, (_, peer) in enumerate(items):
            by_peer.setdefault(peer.name, []).append(n)
        for numbers in by_peer.values():
            peer = items[numbers[0]][1]
            together = []
            for n in numbers:
                message = items[n][0]
                count = messages_in(message)
                if count > 1:
                    answers[n] = _rejected(message, f"one MLLP frame carries one message, not {count}")
                elif count == 1 and message.startswith(b"MSH"):
                    together.append(n)
                else:  # wrapped in batch headers, or no message at all: HL7's reader decides
                    alone = self._receive([message], peer)
                    answers[n] = alone[0] if len(alone) == 1 else _rejected(message, "not an HL7 v2 message")
            acks = self._receive([items[n][0] for n in together], peer) if together else []
            if len(acks) != len(together):  # not one ACK a message: never expected, said plainly
                raise RuntimeError(f"{len(together)} messages received as {len(acks)}")
            for n, ack in zip(together, acks, strict=True):
                answers[n] = ack
        return [a for a in answers if a is not None]

    def _receive(self, messages: list[bytes], peer: Peer) -> list[bytes]:
        acknowledgements = receive(
            self.ledger,
            b"\r".join(m.rstrip(b"\r\n") for m in messages),
            Actor(peer.principal_id, "site"),
            allowed_sites=sorted(peer.sites),
            default_province=self.default_province,
            test_codes=self.test_codes,
        )
        return [a.ack.encode("utf-8") for a in acknowledgements]


def control_id(head: bytes) -> str:
    """MSH-10 of a message's first bytes ('' if they hold no MSH segment)."""
    if not head.startswith(b"MSH") or len(head) < 4:
        return ""
    segment = head.split(b"\r", 1)[0].split(b"\n", 1)[0]
    fields = segment.split(head[3:4])
    return fields[9].decode("utf-8", "replace") if len(fields) > 9 else ""


def messages_in(frame: bytes) -> int:
    """How many messages a frame holds: its MSH segments (CR, LF or CRLF between segments)."""
    segments = frame.replace(b"\r\n", b"\r").replace(b"\n", b"\r").split(b"\r")
    return sum(1 for segment in segments if segment.startswith(b"MSH"))


def _rejected(message: bytes, reason: str) -> bytes:
    issue = FeedIssue("MSH", reason, "error", kind="unsupported")
    return build_ack(AR, control_id(message[:4096]), (issue,)).encode("utf-8")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    settings = Settings()
    peers_file = args.peers or (Path(settings.mllp_peers_file) if settings.mllp_peers_file else None)
    try:
        peers = Peers.from_file(peers_file) if peers_file else Peers()
    except PeersFileError as error:
        print(f"doseledger mllp: {error}", file=sys.stderr)
        return 2
    if not peers.peers:
        log.warning("mllp: no peers configured: every connection will be closed")
    tls_files = (args.tls_cert, args.tls_key, args.tls_ca)
    if any(tls_files) and not all(tls_files):
        print("doseledger mllp: give --tls-cert, --tls-key and --tls-ca together", file=sys.stderr)
        return 2
    tls = server_tls(args.tls_cert, args.tls_key, args.tls_ca) if all(tls_files) else None
    with DoseLedger() as ledger:
        listener = Listener(
            ledger,
            default_province=args.province or settings.feed_default_province,
            test_codes=args.test_codes or settings.feed_test_codes,
        )
        server = MllpServer(listener.answer, listener.refuse, peers, settings.mllp_max_message_bytes, tls)
        asyncio.run(_serve(server, listener, args.host, args.port))
    counts = server.counts
    log.info(
        "mllp: stopped; connections %d (refused %d), messages %d, oversize %d, cut %d",
        counts.connections,
        counts.refused_connections,
        counts.messages,
        counts.oversize,
        counts.cut,
    )
    return 0


async def _serve(server: MllpServer, listener: Listener, host: str, port: int) -> None:
    listening = await server.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("mllp: listening on %s:%d (%s)", host, port, "TLS" if server.tls else "plain TCP")
    await stop.wait()
    log.info("mllp: stopping: answering the messages read, then closing")
    await server.stop(listening)
    await listener.batches.close()
