"""A plain-socket MLLP client (for the tests and the feeds benchmark), and a server run on its
own event loop thread."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from intake.mllp import END, START, MllpServer


@contextmanager
def served(server: MllpServer, host: str = "127.0.0.1") -> Iterator[int]:
    """The server listening on a free port of `host` until the block ends; yields the port."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict[str, asyncio.Server] = {}

    async def start() -> None:
        box["server"] = await server.start(host, 0)
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    started.wait(10)
    try:
        yield box["server"].sockets[0].getsockname()[1]
    finally:

        async def stop() -> None:
            await server.stop(box["server"])
            await box["server"].wait_closed()
            # What is left (a batch being booked) finishes before the loop stops.
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if others:
                await asyncio.wait(others, timeout=30)

        asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def connect(
    port: int, *, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1", timeout: float = 30
) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=timeout)
    if tls is not None:
        sock = tls.wrap_socket(sock, server_hostname="localhost")
    return sock


class AckReader:
    """Frames read back from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def next(self) -> bytes | None:
        """The next framed answer, or None if the server closed the connection first."""
        while END not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        framed, _, self.buffer = self.buffer.partition(END)
        assert framed.startswith(START), framed[:20]
        return framed[1:]


def send_all(sock: socket.socket, messages: list[bytes], *, pipelined: int = 16) -> list[bytes]:
    """Send each message framed, up to `pipelined` ahead of their ACKs; the ACKs, in order."""
    acks: list[bytes] = []
    reader = AckReader(sock)
    sent = 0
    while len(acks) < len(messages):
        while sent < len(messages) and sent - len(acks) < pipelined:
            sock.sendall(START + messages[sent] + END)
            sent += 1
        ack = reader.next()
        assert ack is not None, f"connection closed after {len(acks)} ACKs"
        acks.append(ack)
    return acks


def in_threads(jobs: list[Callable[[], list[bytes]]]) -> list[list[bytes]]:
    results: list[list[bytes]] = [[] for _ in jobs]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            results[n] = jobs[n]()
        except BaseException as error:  # noqa: BLE001 - handed back to the test, raised there
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results
