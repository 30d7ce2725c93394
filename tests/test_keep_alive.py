"""The server holds an idle kept-alive connection as long as DOSELEDGER_KEEP_ALIVE_SECONDS says:
a site sending a dose every 30-40 s keeps its connection (uvicorn's own default closes it
after 5 s idle, and every dose would then pay a new connection)."""

from __future__ import annotations

import socket
import time

import pytest

from bench import http

IDLE = 6.5  # seconds between the two requests: beyond uvicorn's default of 5


def health(sock: socket.socket, host: str) -> bytes:
    """One GET /healthz on the connection; what came back (b"" when the server had closed it)."""
    try:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = sock.recv(65536)
            if not chunk:
                return got
            got += chunk
        head, _, body = got.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return head
    except (ConnectionResetError, BrokenPipeError):
        return b""


@pytest.mark.parametrize(("setting", "kept"), [(None, False), ("8", True)], ids=["default", "8s"])
def test_an_idle_connection_is_kept_as_long_as_the_setting_says(store_url, setting, kept):
    settings = {"DOSELEDGER_KEEP_ALIVE_SECONDS": setting} if setting else {}
    with http.server(store_url, 1, 2, settings) as (base, _):
        host = base.removeprefix("http://")
        address, port = host.rsplit(":", 1)
        with socket.create_connection((address, int(port)), timeout=10) as sock:
            assert health(sock, host).startswith(b"HTTP/1.1 200")
            time.sleep(IDLE)
            again = health(sock, host)
    if kept:
        assert again.startswith(b"HTTP/1.1 200"), again
    else:
        assert again == b"", "the default keep-alive (5 s) should have closed the idle connection"
