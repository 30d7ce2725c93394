"""MLLP: the framing HL7 v2 interface engines speak over TCP, and a server over asyncio streams.

A message travels as 0x0B, the message's bytes, 0x1C 0x0D; the receiver answers each message
with one framed ACK, in order. The server here knows nothing of HL7 beyond that: who may connect
(`Peers`, an address allow-list or a TLS client certificate's subject → the sites it may send
for), the frames, and a handler that turns one message into its ACK. Booking is the handler's.

Why it is shaped so:
- A frame over the size limit is answered (by `refuse`) from its first bytes, the MSH segment
  being at its head; the rest is read and dropped as it arrives, never held.
- A connection cut mid-frame hands nothing of that frame to the handler: the messages before it
  were answered one by one and stay booked; the partial one is dropped.
- Frames of one connection are read ahead of their ACKs (a sender may pipeline), handled in
  order, and the ACKs written in order; `Gatherer` lets a handler book the messages of every
  connection arriving together in one batch (one transaction), as the JSON batch path does.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

START = b"\x0b"
END = b"\x1c\r"
# The MSH segment (and its control id) sits in the first bytes: kept to answer an oversize frame.
HEAD_BYTES = 4096
CHUNK_BYTES = 64 * 1024
# Frames read ahead of their ACKs on one connection: bounds the memory a fast sender takes.
READ_AHEAD = 64

log = logging.getLogger("doseledger.mllp")


def frame(message: bytes) -> bytes:
    """One message in its MLLP envelope."""
    return START + message + END


@dataclass(frozen=True)
class Oversize:
    """A frame longer than the limit: its first bytes, and how many bytes it had in all."""

    head: bytes
    size: int


@dataclass(frozen=True)
class Cut:
    """The connection ended inside a frame after this many of its bytes."""

    size: int


class FrameReader:
    """Frames from a stream, one at a time, never holding more than the limit (plus a chunk)."""

    def __init__(self, reader: asyncio.StreamReader, limit: int) -> None:
        self.reader = reader
        self.limit = limit
        self.buffer = bytearray()

    async def _more(self) -> bool:
        chunk = await self.reader.read(CHUNK_BYTES)
        self.buffer += chunk
        return bool(chunk)

    async def next(self) -> bytes | Oversize | Cut | None:
        """The next message; Oversize or Cut as they say; None at a clean end of the stream."""
        # Bytes between frames (a stray newline some senders add) are no message: skipped.
        while (start := self.buffer.find(START)) < 0:
            self.buffer.clear()
            if not await self._more():
                return None
        del self.buffer[:start]
        scanned = 1
        while (end := self.buffer.find(END, scanned)) < 0:
            if len(self.buffer) - 1 > self.limit:
                return await self._drop_oversize()
            scanned = max(1, len(self.buffer) - 1)
            if not await self._more():
                size = len(self.buffer) - 1
                self.buffer.clear()
                return Cut(size)
        message = bytes(self.buffer[1:end])
        del self.buffer[: end + len(END)]
        if len(message) > self.limit:
            return Oversize(message[:HEAD_BYTES], len(message))
        return message

    async def _drop_oversize(self) -> Oversize | Cut:
        head = bytes(self.buffer[1 : 1 + HEAD_BYTES])
        del self.buffer[:1]
        dropped = 0
        while (end := self.buffer.find(END)) < 0:
            # Keep the last byte: the end marker may straddle two chunks.
            dropped += len(self.buffer) - 1
            del self.buffer[:-1]
            if not await self._more():
                size = dropped + len(self.buffer)
                self.buffer.clear()
                return Cut(size)
        del self.buffer[: end + len(END)]
        return Oversize(head, dropped + end)


# ----------------------------------------------------------------------------------- peers


class PeersFileError(ValueError):
    """The peers file cannot be used; the message names the entry and the field."""


@dataclass(frozen=True)
class Peer:
    """A sending system the listener serves: how it is known, and the sites it may send for."""

    name: str
    sites: frozenset[str]
    addresses: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    subject: str | None = None

    @property
    def principal_id(self) -> str:
        return f"mllp:{self.name}"


@dataclass(frozen=True)
class Peers:
    """The configured peers. Over TLS a peer is known by its client certificate's subject (the
    address alone is not enough there); over plain TCP by its address."""

    peers: tuple[Peer, ...] = ()

    @classmethod
    def from_file(cls, path: Path) -> Peers:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise PeersFileError(f"peers file unreadable: {error}") from error
        return cls.from_data(data)

    @classmethod
    def from_data(cls, data: Any) -> Peers:
        """`{"peers": [{"name", "sites": [...], "addresses": ["10.0.0.0/24"], "subject": "CN=…"}]}`"""
        entries = data.get("peers") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise PeersFileError("peers file: 'peers' must be a list")
        peers = [_peer(n, entry) for n, entry in enumerate(entries)]
        names = [p.name for p in peers]
        if len(set(names)) != len(names):
            raise PeersFileError("peers file: each peer's 'name' must be unique")
        return cls(tuple(peers))

    def by_address(self, address: str) -> Peer | None:
        ip = ipaddress.ip_address(address)
        return next((p for p in self.peers if any(ip in net for net in p.addresses)), None)

    def by_subject(self, subject: str) -> Peer | None:
        return next((p for p in self.peers if p.subject is not None and p.subject == subject), None)


def _peer(n: int, entry: Any) -> Peer:
    where = f"peers file: peer {n + 1}"
    if not isinstance(entry, dict):
        raise PeersFileError(f"{where}: must be an object")
    unknown = set(entry) - {"name", "sites", "addresses", "subject"}
    if unknown:
        raise PeersFileError(f"{where}: unknown field(s) {sorted(unknown)}")
    name, sites = entry.get("name"), entry.get("sites")
    if not isinstance(name, str) or not name:
        raise PeersFileError(f"{where}: 'name' must be a non-empty string")
    if not isinstance(sites, list) or not sites or not all(isinstance(s, str) and s for s in sites):
        raise PeersFileError(f"{where}: 'sites' must list the site ids it may send for")
    try:
        addresses = tuple(ipaddress.ip_network(a, strict=False) for a in entry.get("addresses", []))
    except (TypeError, ValueError) as error:
        raise PeersFileError(f"{where}: 'addresses': {error}") from error
    subject = entry.get("subject")
    if subject is not None and not isinstance(subject, str):
        raise PeersFileError(f"{where}: 'subject' must be a string")
    if not addresses and subject is None:
        raise PeersFileError(f"{where}: give 'addresses' or a client certificate 'subject'")
    return Peer(name, frozenset(sites), addresses, subject)


def certificate_subject(peercert: dict[str, Any] | None) -> str | None:
    """The subject of a verified client certificate, as RFC 4514 text (most specific first:
    "CN=clinic-a,O=Health Dept"), from what `ssl` reports; None without one."""
    if not peercert or "subject" not in peercert:
        return None
    names = {
        "commonName": "CN",
        "organizationName": "O",
        "organizationalUnitName": "OU",
        "countryName": "C",
        "localityName": "L",
        "stateOrProvinceName": "ST",
    }
    parts = [f"{names.get(key, key)}={value}" for rdn in reversed(peercert["subject"]) for key, value in rdn]
    return ",".join(parts)


def server_tls(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """TLS that asks every client for a certificate signed by `ca` (no certificate: no handshake)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca))
    context.load_cert_chain(str(cert), str(key))
    context.verify_mode = ssl.CERT_REQUIRED
    return context


# ----------------------------------------------------------------------------------- server

Handler = Callable[[bytes, Peer], Awaitable[bytes]]
Refuser = Callable[[bytes, str], bytes]


@dataclass
class Counts:
    """What the server has done since it started (no personal data: counts only)."""

    connections: int = 0
    refused_connections: int = 0
    messages: int = 0
    oversize: int = 0
    cut: int = 0


@dataclass
class MllpServer:
    """Serves configured peers: each frame to `handle`, an oversize one to `refuse` (its head and
    the reason), each answer framed back in order."""

    handle: Handler
    refuse: Refuser
    peers: Peers
    max_message_bytes: int
    tls: ssl.SSLContext | None = None
    counts: Counts = field(default_factory=Counts)
    # The connections being served, to end them in good order at a stop.
    serving: dict[asyncio.Task[None], tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(
        default_factory=dict
    )

    async def start(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self.serve, host, port, ssl=self.tls, limit=CHUNK_BYTES)

    async def stop(self, listening: asyncio.Server, grace: float = 30.0) -> None:
        """Stop taking connections and frames; every message already read is answered (its
        booking finished) before its connection closes. A frame half read is dropped, as at a
        cut: its sender, with no ACK, sends it again."""
        listening.close()
        for reader, writer in list(self.serving.values()):
            if isinstance(writer.transport, asyncio.ReadTransport):
                writer.transport.pause_reading()  # no more data: feeding after the end is an error
            reader.feed_eof()
        if self.serving:
            await asyncio.wait(list(self.serving), timeout=grace)

    def identify(self, writer: asyncio.StreamWriter) -> Peer | None:
        if self.tls is not None:
            subject = certificate_subject(writer.get_extra_info("peercert"))
            return self.peers.by_subject(subject) if subject else None
        address = writer.get_extra_info("peername")
        return self.peers.by_address(address[0]) if address else None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = self.identify(writer)
        if peer is None:
            self.counts.refused_connections += 1
            # The address is the operator's to configure; it names no person.
            log.warning("mllp: connection from an unconfigured peer %s closed", _address(writer))
            await _close(writer)
            return
        self.counts.connections += 1
        log.info("mllp: peer %s connected", peer.name)
        task = asyncio.current_task()
        if task is not None:
            self.serving[task] = (reader, writer)
        answers: asyncio.Queue[asyncio.Future[bytes] | None] = asyncio.Queue(READ_AHEAD)
        writing = asyncio.create_task(self._write(answers, writer))
        try:
            await self._read(FrameReader(reader, self.max_message_bytes), answers, peer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            log.info("mllp: peer %s connection lost", peer.name)
        finally:
            await answers.put(None)
            await writing
            await _close(writer)
            if task is not None:
                self.serving.pop(task, None)
            log.info("mllp: peer %s disconnected", peer.name)

    async def _read(
        self, frames: FrameReader, answers: asyncio.Queue[asyncio.Future[bytes] | None], peer: Peer
    ) -> None:
        while (item := await frames.next()) is not None:
            if isinstance(item, Cut):
                self.counts.cut += 1
                log.warning("mllp: peer %s cut a message after %d bytes: dropped", peer.name, item.size)
                return
            if isinstance(item, Oversize):
                self.counts.oversize += 1
                reason = f"message of {item.size} bytes over the limit of {self.max_message_bytes}"
                answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
                answer.set_result(self.refuse(item.head, reason))
                await answers.put(answer)
                continue
            self.counts.messages += 1
            await answers.put(asyncio.ensure_future(self.handle(item, peer)))

    async def _write(
        self, answers: asyncio.Queue[asyncio.Future[bytes] | None], writer: asyncio.StreamWriter
    ) -> None:
        broken = False
        while (answer := await answers.get()) is not None:
            try:
                ack = await answer  # awaited even once the peer is gone: its booking completes
            except Exception:
                # A handler answers every message itself; one that fails leaves no ACK to send,
                # and the sender must not take the next ACK for this message's: hang up.
                log.exception("mllp: a message could not be answered; connection closed")
                broken = True
                writer.close()
                continue
            if broken:
                continue
            try:
                writer.write(frame(ack))
                await writer.drain()
            except (ConnectionError, ssl.SSLError):
                broken = True


def _address(writer: asyncio.StreamWriter) -> str:
    peername = writer.get_extra_info("peername")
    return str(peername[0]) if peername else "?"


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except (ConnectionError, ssl.SSLError):
        pass


# ----------------------------------------------------------------------------------- batching

Item = TypeVar("Item")
Result = TypeVar("Result")


class Gatherer(Generic[Item, Result]):
    """Hands what arrives together (from every connection) to `run` in one call, in a worker
    thread, one batch at a time: the batch path's one transaction for many messages. A batch
    is taken as soon as the previous one is done, so the batches grow with the load."""

    def __init__(self, run: Callable[[Sequence[Item]], Iterable[Result]], max_batch: int = 500) -> None:
        self.run = run
        self.max_batch = max_batch
        self.pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self.task: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self.pending.append((item, future))
        # One drain at a time; it ends when nothing is pending (no task outlives the work).
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self.pending:
            batch, self.pending = self.pending[: self.max_batch], self.pending[self.max_batch :]
            try:
                results = list(await asyncio.to_thread(self.run, [item for item, _ in batch]))
            except Exception as error:  # noqa: BLE001 - every waiter hears of it; the next batch goes on
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def close(self) -> None:
        """Wait for the batch being booked (and those queued behind it) to finish."""
        if self.task is not None:
            await self.task
