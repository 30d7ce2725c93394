"""The MLLP framing and server, without a store: who is served, frames, order, limits, cuts, TLS."""

from __future__ import annotations

import asyncio
import datetime
import ssl
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bench.mllp_client import AckReader, connect, in_threads, send_all, served
from intake.mllp import (
    CHUNK_BYTES,
    Cut,
    FrameReader,
    MllpServer,
    Oversize,
    Peer,
    Peers,
    PeersFileError,
    certificate_subject,
    frame,
    server_tls,
)


def _frames(chunks: list[bytes], limit: int = 1000) -> tuple[list[object], int]:
    """What a FrameReader makes of these chunks, and the most it ever held."""

    class Watched(FrameReader):
        most = 0

        async def _more(self) -> bool:
            got = await super()._more()
            Watched.most = max(Watched.most, len(self.buffer))
            return got

    async def read() -> list[object]:
        stream = asyncio.StreamReader()
        for chunk in chunks:
            stream.feed_data(chunk)
        stream.feed_eof()
        frames = Watched(stream, limit)
        out: list[object] = []
        while (item := await frames.next()) is not None:
            out.append(item)
            if isinstance(item, Cut):
                break
        return out

    return asyncio.run(read()), Watched.most


def test_frames_split_anywhere_are_read_whole() -> None:
    stream = frame(b"MSH|one") + b"\n" + frame(b"MSH|two") + frame(b"MSH|three")
    for cut in range(1, len(stream)):
        got, _ = _frames([stream[:cut], stream[cut:]])
        assert got == [b"MSH|one", b"MSH|two", b"MSH|three"], cut


def test_a_stream_ending_inside_a_frame_gives_a_cut_not_a_message() -> None:
    got, _ = _frames([frame(b"MSH|one") + b"\x0bMSH|partial"])
    assert got == [b"MSH|one", Cut(len(b"MSH|partial"))]
    # An end marker's first byte alone does not end a frame.
    got, _ = _frames([frame(b"MSH|one") + b"\x0bMSH|partial\x1c"])
    assert got[1] == Cut(len(b"MSH|partial\x1c"))


def test_an_oversize_frame_is_refused_from_its_head_without_holding_it() -> None:
    big = b"MSH|^~\\&|big|" + b"x" * (3 * 1024 * 1024)
    chunks = [frame(b"MSH|before")] + [frame(big)[i : i + 10_000] for i in range(0, len(frame(big)), 10_000)]
    chunks.append(frame(b"MSH|after"))
    got, most = _frames(chunks, limit=50_000)
    assert got[0] == b"MSH|before"
    assert isinstance(got[1], Oversize) and got[1].size == len(big)
    assert got[1].head.startswith(b"MSH|^~\\&|big|")
    assert got[2] == b"MSH|after"
    # The reader in the test is fed everything at once, so one read may bring a whole chunk:
    # the frame itself never piles up beyond the limit and one chunk.
    assert most <= 50_000 + CHUNK_BYTES + 16


def _answering(handled: list[tuple[bytes, str]]) -> MllpServer:
    async def handle(message: bytes, peer: Peer) -> bytes:
        handled.append((message, peer.name))
        await asyncio.sleep(0)
        return b"ACK|" + message

    return MllpServer(
        handle=handle,
        refuse=lambda head, reason: b"AR|" + head[:12] + b"|" + reason.encode(),
        peers=Peers((Peer("local", frozenset({"S1"}), Peers.from_data(_local()).peers[0].addresses),)),
        max_message_bytes=10_000,
    )


def _local() -> dict[str, object]:
    return {"peers": [{"name": "local", "sites": ["S1"], "addresses": ["127.0.0.1/32"]}]}


def test_concurrent_connections_get_one_ack_per_message_in_order() -> None:
    handled: list[tuple[bytes, str]] = []
    with served(_answering(handled)) as port:

        def client(c: int) -> list[bytes]:
            with connect(port) as sock:
                return send_all(sock, [f"MSH|{c}|{n}".encode() for n in range(300)])

        results = in_threads([lambda c=c: client(c) for c in range(8)])
    for c, acks in enumerate(results):
        assert acks == [f"ACK|MSH|{c}|{n}".encode() for n in range(300)]
    assert len(handled) == 8 * 300


def test_an_oversize_message_is_refused_and_the_connection_goes_on() -> None:
    handled: list[tuple[bytes, str]] = []
    with served(_answering(handled)) as port, connect(port) as sock:
        acks = send_all(sock, [b"MSH|small", b"MSH|large|" + b"y" * 200_000, b"MSH|next"], pipelined=1)
    assert acks[0] == b"ACK|MSH|small" and acks[2] == b"ACK|MSH|next"
    assert acks[1].startswith(b"AR|MSH|large|") and b"over the limit of 10000" in acks[1]
    assert [m for m, _ in handled] == [b"MSH|small", b"MSH|next"]


def test_a_connection_cut_mid_message_hands_nothing_of_it_on() -> None:
    handled: list[tuple[bytes, str]] = []
    server = _answering(handled)
    with served(server) as port:
        with connect(port) as sock:
            assert send_all(sock, [b"MSH|1", b"MSH|2"]) == [b"ACK|MSH|1", b"ACK|MSH|2"]
            sock.sendall(b"\x0bMSH|3|half a mess")
        with connect(port) as sock:  # the server is still there for the next one
            assert send_all(sock, [b"MSH|4"]) == [b"ACK|MSH|4"]
    assert [m for m, _ in handled] == [b"MSH|1", b"MSH|2", b"MSH|4"]
    assert server.counts.cut == 1


def test_a_stop_answers_every_message_read_before_it_closes() -> None:
    booking: list[bytes] = []

    async def slow(message: bytes, peer: Peer) -> bytes:
        booking.append(message)
        await asyncio.sleep(0.5)  # still being booked when the stop comes
        return b"ACK|" + message

    server = _answering([])
    server.handle = slow
    with served(server) as port:
        sock = connect(port)
        sock.sendall(frame(b"MSH|1") + frame(b"MSH|2") + b"\x0bMSH|3|half")
        # Stop only once both messages were read (on a busy machine the server's loop may not
        # have read them yet after any fixed pause).
        deadline = time.monotonic() + 30
        while len(booking) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    with sock:
        answers = AckReader(sock)
        assert [answers.next(), answers.next(), answers.next()] == [b"ACK|MSH|1", b"ACK|MSH|2", None]


def test_a_peer_not_configured_is_closed_unanswered(caplog: pytest.LogCaptureFixture) -> None:
    handled: list[tuple[bytes, str]] = []
    server = _answering(handled)
    server.peers = Peers.from_data(
        {"peers": [{"name": "far", "sites": ["S1"], "addresses": ["10.9.0.0/16"]}]}
    )
    with served(server) as port, connect(port) as sock:
        try:
            sock.sendall(frame(b"MSH|from a stranger"))
            assert AckReader(sock).next() is None
        except ConnectionError:
            pass  # closed (or reset) before any answer: the same refusal
    assert handled == [] and server.counts.refused_connections == 1
    assert "unconfigured peer 127.0.0.1" in caplog.text


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({}, "'peers' must be a list"),
        ({"peers": [{"sites": ["S1"], "addresses": ["127.0.0.1"]}]}, "peer 1: 'name'"),
        ({"peers": [{"name": "a", "sites": [], "addresses": ["127.0.0.1"]}]}, "peer 1: 'sites'"),
        ({"peers": [{"name": "a", "sites": ["S1"], "addresses": ["not an ip"]}]}, "peer 1: 'addresses'"),
        ({"peers": [{"name": "a", "sites": ["S1"]}]}, "give 'addresses' or a client certificate"),
        ({"peers": [{"name": "a", "sites": ["S1"], "subject": "CN=a", "port": 1}]}, "unknown field"),
        (
            {
                "peers": [
                    {"name": "a", "sites": ["S1"], "subject": "CN=a"},
                    {"name": "a", "sites": ["S2"], "subject": "CN=b"},
                ]
            },
            "unique",
        ),
    ],
)
def test_a_bad_peers_file_is_refused_naming_the_field(data: dict[str, object], named: str) -> None:
    with pytest.raises(PeersFileError, match=named):
        Peers.from_data(data)


def test_peers_are_found_by_address_range_and_by_subject(tmp_path: Path) -> None:
    path = tmp_path / "peers.json"
    path.write_text(
        '{"peers": [{"name": "ward", "sites": ["S1", "S2"], "addresses": ["10.1.0.0/16", "::1"]},'
        ' {"name": "clinic", "sites": ["S3"], "subject": "CN=clinic,O=Health"}]}'
    )
    peers = Peers.from_file(path)
    assert peers.by_address("10.1.200.3").name == "ward"  # type: ignore[union-attr]
    assert peers.by_address("::1").name == "ward"  # type: ignore[union-attr]
    assert peers.by_address("10.2.0.1") is None
    assert peers.by_subject("CN=clinic,O=Health").sites == frozenset({"S3"})  # type: ignore[union-attr]
    assert peers.by_subject("CN=clinic") is None
    with pytest.raises(PeersFileError, match="unreadable"):
        Peers.from_file(tmp_path / "absent.json")


# ----------------------------------------------------------------------------------- TLS


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Health"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )


def _issue(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer or (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if subject == "localhost":
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    cert_path, key_path = path.with_suffix(".crt"), path.with_suffix(".key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, tuple[Path, Path]]:
    """A CA made in the test, the server's certificate and two clients', each signed by it."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue("test ca", ca_key, None)
    made = {"ca": _write(tmp_path / "ca", ca, ca_key)}
    for name in ("localhost", "clinic", "stranger"):
        key = ec.generate_private_key(ec.SECP256R1())
        made[name] = _write(tmp_path / name, _issue(name, key, (ca.subject, ca_key)), key)
    return made


def _client_tls(pki: dict[str, tuple[Path, Path]], who: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki["ca"][0]))
    context.load_cert_chain(str(pki[who][0]), str(pki[who][1]))
    return context


def test_tls_client_certificates_map_to_their_peer(pki: dict[str, tuple[Path, Path]]) -> None:
    handled: list[tuple[bytes, str]] = []
    server = _answering(handled)
    server.peers = Peers.from_data(
        {"peers": [{"name": "clinic", "sites": ["S3"], "subject": "CN=clinic,O=Health"}]}
    )
    server.tls = server_tls(*pki["localhost"], pki["ca"][0])
    with served(server) as port:
        with connect(port, tls=_client_tls(pki, "clinic")) as sock:
            assert send_all(sock, [b"MSH|over tls"]) == [b"ACK|MSH|over tls"]
        # A certificate from the same CA whose subject no peer names: closed unanswered.
        with connect(port, tls=_client_tls(pki, "stranger")) as sock:
            try:
                sock.sendall(frame(b"MSH|unknown subject"))
                assert AckReader(sock).next() is None
            except (ConnectionError, ssl.SSLError):
                pass
        # No client certificate at all: no handshake.
        bare = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki["ca"][0]))
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with connect(port, tls=bare) as sock:
                sock.sendall(frame(b"MSH|no certificate"))
                assert AckReader(sock).next() is None
                raise ConnectionError("closed unanswered")
    assert handled == [(b"MSH|over tls", "clinic")]


def test_a_certificate_subject_reads_most_specific_first() -> None:
    peercert = {"subject": ((("organizationName", "Health"),), (("commonName", "clinic"),))}
    assert certificate_subject(peercert) == "CN=clinic,O=Health"
    assert certificate_subject(None) is None
