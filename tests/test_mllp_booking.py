"""The MLLP listener booking HL7 v2 on both stores: a plain-socket client sends 10,000 messages
over 8 connections, the CDC's good file, an oversize message, a cut stream, a message for
another site, and a TLS peer known by its client certificate."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.mllp_client import AckReader, connect, in_threads, send_all, served
from cli.mllp import Listener, control_id
from intake.mllp import MllpServer, Peers, frame, server_tls
from ledger.errors import DoseNotFound
from ledger.keys import dose_id_for
from tests.test_mllp import _client_tls, pki  # noqa: F401 - the fixture, shared
from tests.testdata import TESTDATA

CDC = TESTDATA / "cdc-iis-covid-vxu" / "test-resources"
SITE = "HN-TYT-001"
LOCAL = {"peers": [{"name": "ward", "sites": [SITE], "addresses": ["127.0.0.1"]}]}


def vxu(n: int, *, site: str = SITE, record: str | None = None, pad: str = "") -> bytes:
    """A small VXU^V04 of one new dose of Comirnaty for a new person (province 01)."""
    segments = [
        f"MSH|^~\\&|EHR|{site}|DOSELEDGER||20210801120000||VXU^V04^VXU_V04|C{n}|P|2.5.1",
        f"PID|||P{n}^^^{site}^MR||Nguyen^Van^An {n}||19800101|M|||{n} Pho Hue^^Ha Noi^01",
        f"ORC|RE||{record or f'R{n}'}",
        f"RXA|0|1|20210801||208^COVID-19 mRNA^CVX|0.3|mL||00||^^^{site}||||FA1234|||||CP|A",
    ]
    if pad:
        segments.append(f"NTE|||{pad}")
    return "\r".join(segments).encode("utf-8") + b"\r"


def msa(ack: bytes) -> tuple[str, str]:
    """(MSA-1, MSA-2) of an ACK."""
    segment = next(s for s in ack.split(b"\r") if s.startswith(b"MSA|"))
    fields = segment.decode().split("|")
    return fields[1], fields[2]


def booked(ledger, record: str, site: str = SITE) -> bool:
    try:
        ledger.dose_origin(dose_id_for(site, record))
    except DoseNotFound:
        return False
    return True


@contextmanager
def listening(ledger, peers: dict = LOCAL, *, limit: int = 64 * 1024, tls=None, **options) -> Iterator[int]:
    listener = Listener(ledger, **options)
    server = MllpServer(listener.answer, listener.refuse, Peers.from_data(peers), limit, tls)
    with served(server) as port:
        yield port


# Measured on the shared 2-core machine: 21-35 s on SQLite, 53-65 s on PostgreSQL. It runs in CI
# all the same (nothing deselects `slow`).
@pytest.mark.slow
def test_ten_thousand_messages_over_eight_connections_each_acked_and_booked_once(ledger):
    per_connection = 1250
    with listening(ledger) as port:

        def client(c: int) -> list[bytes]:
            with connect(port, timeout=300) as sock:
                return send_all(
                    sock, [vxu(c * per_connection + k) for k in range(per_connection)], pipelined=32
                )

        started = time.perf_counter()
        results = in_threads([lambda c=c: client(c) for c in range(8)])
        took = time.perf_counter() - started
    for c, acks in enumerate(results):
        assert [msa(a) for a in acks] == [("AA", f"C{c * per_connection + k}") for k in range(per_connection)]
    missing = [n for n in range(8 * per_connection) if not booked(ledger, f"R{n}")]
    assert missing == []
    print(f"10,000 VXU over MLLP, 8 connections: {10_000 / took:.0f} messages/s")
    head = ledger.head()
    with listening(ledger) as port, connect(port) as sock:  # sent again: nothing new
        acks = send_all(sock, [vxu(n) for n in range(0, 10_000, 97)], pipelined=32)
    assert {msa(a)[0] for a in acks} == {"AA"}
    assert ledger.head() == head


def cdc_messages(name: str) -> list[bytes]:
    text = (CDC / name).read_bytes().replace(b"\r\n", b"\r").replace(b"\n", b"\r")
    parts = [b"MSH" + p for p in text.split(b"MSH")[1:]]
    return [p.strip(b"\r") + b"\r" for p in parts]


def test_the_cdc_good_file_over_mllp_is_every_message_aa_and_twice_nothing_new(ledger):
    messages = cdc_messages("testgood.hl7")
    assert len(messages) == 33
    sites = {
        "999999",
        "577689",
        "788899",
        "Luna",
        "Buffalo",
        "Cap",
        "Library",
        "COVID-A",
        "COVID-B",
        "COVID-C",
    }
    peers = {"peers": [{"name": "cdc", "sites": sorted(sites), "addresses": ["127.0.0.1"]}]}
    with listening(ledger, peers, default_province="01", test_codes=True) as port, connect(port) as sock:
        acks = send_all(sock, messages)
        assert [msa(a) for a in acks] == [("AA", control_id(m)) for m in messages]
        head = ledger.head()
        again = send_all(sock, messages)
    assert [msa(a)[0] for a in again] == ["AA"] * 33
    assert ledger.head() == head


def test_an_oversize_message_is_ar_with_its_control_id_and_books_nothing(ledger):
    with listening(ledger, limit=2048) as port, connect(port) as sock:
        acks = send_all(sock, [vxu(1), vxu(2, pad="x" * 100_000), vxu(3)], pipelined=1)
    assert [msa(a) for a in acks] == [("AA", "C1"), ("AR", "C2"), ("AA", "C3")]
    assert b"over the limit of 2048" in acks[1]
    assert [booked(ledger, r) for r in ("R1", "R2", "R3")] == [True, False, True]


def test_a_stream_cut_mid_message_keeps_the_messages_before_it_and_books_nothing_of_it(ledger):
    with listening(ledger) as port:
        with connect(port) as sock:
            assert [msa(a)[0] for a in send_all(sock, [vxu(1), vxu(2)])] == ["AA", "AA"]
            cut = frame(vxu(3))
            sock.sendall(cut[: len(cut) // 2])
        with connect(port) as sock:  # the listener goes on; a later message is booked
            assert msa(send_all(sock, [vxu(4)])[0]) == ("AA", "C4")
    assert [booked(ledger, f"R{n}") for n in (1, 2, 3, 4)] == [True, True, False, True]


def test_a_message_for_a_site_outside_the_peers_scope_is_ar_and_books_nothing(ledger):
    with listening(ledger) as port, connect(port) as sock:
        acks = send_all(sock, [vxu(1, site="79-TYT-001"), vxu(2)])
    assert [msa(a) for a in acks] == [("AR", "C1"), ("AA", "C2")]
    assert b"outside the sender's scope" in acks[0]
    assert not booked(ledger, "R1", site="79-TYT-001")
    assert booked(ledger, "R2")


def test_a_frame_of_two_messages_or_of_none_is_ar_and_books_nothing(ledger):
    with listening(ledger) as port, connect(port) as sock:
        acks = send_all(sock, [vxu(1) + vxu(2), b"hello, is this the registry?", vxu(3)])
    assert [msa(a)[0] for a in acks] == ["AR", "AR", "AA"]
    assert msa(acks[0])[1] == "C1" and b"one MLLP frame carries one message, not 2" in acks[0]
    assert [booked(ledger, f"R{n}") for n in (1, 2, 3)] == [False, False, True]


def test_a_peer_not_configured_books_nothing(ledger):
    stranger = {"peers": [{"name": "far", "sites": [SITE], "addresses": ["10.9.0.0/16"]}]}
    with listening(ledger, stranger) as port, connect(port) as sock:
        try:
            sock.sendall(frame(vxu(1)))
            assert AckReader(sock).next() is None
        except ConnectionError:
            pass
    assert not booked(ledger, "R1")


def test_a_tls_client_certificate_maps_to_its_peers_sites(ledger, pki: dict[str, tuple[Path, Path]]):  # noqa: F811
    peers = {"peers": [{"name": "clinic", "sites": [SITE], "subject": "CN=clinic,O=Health"}]}
    tls = server_tls(*pki["localhost"], pki["ca"][0])
    with listening(ledger, peers, tls=tls) as port, connect(port, tls=_client_tls(pki, "clinic")) as sock:
        acks = send_all(sock, [vxu(1), vxu(2, site="79-TYT-001")])
    assert [msa(a)[0] for a in acks] == ["AA", "AR"]
    person_id, _ = ledger.dose_origin(dose_id_for(SITE, "R1"))
    events = list(ledger.events.get(person_id))
    dose = next(e for e in events if type(e).__name__ == "DoseRecorded")
    assert dose.actor == {"principal_id": "mllp:clinic", "role": "site"}
    assert Counter(type(e).__name__ for e in events)["DoseRecorded"] == 1


def test_a_message_of_several_rxas_refused_in_part_over_mllp_stores_none_of_them(ledger):
    """The listener books a connection's gathered messages in one call: a message whose second
    RXA clashes with an earlier message of the same call stores neither of its doses."""
    from intake.mllp import Peer

    ward = Peer("ward", frozenset({SITE}))
    clash = f"ORC|RE||R1\rRXA|0|1|20210901||208^COVID-19 mRNA^CVX|0.3|mL||00||^^^{SITE}||||FB1|||||CP|A\r"
    answers = Listener(ledger).book([(vxu(1), ward), (vxu(2) + clash.encode(), ward), (vxu(3), ward)])
    assert [msa(a) for a in answers] == [("AA", "C1"), ("AE", "C2"), ("AA", "C3")]
    assert (booked(ledger, "R1"), booked(ledger, "R2"), booked(ledger, "R3")) == (True, False, True)
