"""The production server command (``manage.py serve``) and its connection handling."""

from __future__ import annotations

import socket
import time

import pytest

from tests.faults import start_gateway

REQUEST = b"GET /v1/models HTTP/1.1\r\nHost: gateway\r\n\r\n"


def _response(sock: socket.socket) -> bytes:
    """One whole HTTP/1.1 response (this endpoint always sends Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
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
    return head + b"\r\n\r\n" + body


@pytest.mark.slow
def test_an_idle_connection_outlives_the_clients_own_pool_expiry(tmp_path):
    """httpx (the OpenAI SDK's pool) drops idle connections after 5 s; uvicorn's default
    also closes them after 5 s, so a request sent at that moment was reset unread.
    The gateway must still answer on a connection idle for longer than the client's expiry."""
    gateway, url = start_gateway(tmp_path, LOG_LEVEL="ERROR")
    try:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(REQUEST)
            assert _response(sock).startswith(b"HTTP/1.1 401")
            time.sleep(6.0)  # past both 5 s defaults
            sock.sendall(REQUEST)
            assert _response(sock).startswith(b"HTTP/1.1 401"), (
                "the server closed the idle connection"
            )
    finally:
        gateway.stop()
