"""The private control socket (minirt/_admin.py) on its own, with a stand-in head."""

from __future__ import annotations

import os
import socket
import time
import types

from minirt import _admin


def _server(tmp_path):
    head = types.SimpleNamespace(_closed=False, started_at=time.time(), namespace="test",
                                 nodes=[], admin=None)
    server = _admin.AdminServer(head, str(tmp_path / "admin.sock"))
    head.admin = server
    return server


def test_a_client_sending_a_byte_at_a_time_has_conn_timeout_in_total(tmp_path, monkeypatch):
    """A byte just before the timeout must not buy another CONN_TIMEOUT of silence."""
    monkeypatch.setattr(_admin, "CONN_TIMEOUT", 2.0)
    server = _server(tmp_path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(server.path)
        t0 = time.monotonic()
        for _ in range(4):                  # a byte every 0.4 s, the last at 1.6 s
            time.sleep(0.4)
            s.sendall(b"x")                 # never the end of the request
        s.settimeout(10)
        assert s.recv(1) == b""             # the server closed the connection...
        took = time.monotonic() - t0
        assert took < 3.0, took             # ...at 2 s (not 1.6 + 2 s)
        assert _admin.request(server.path, "ping", timeout=5)["pid"] == os.getpid()
    finally:
        s.close()
        server.close()


def test_close_wakes_the_accept_loop_at_once(tmp_path):
    server = _server(tmp_path)
    assert server._sock.gettimeout() is None        # no polling: accept() blocks
    t0 = time.monotonic()
    server.close()
    assert not server._thread.is_alive() and time.monotonic() - t0 < 1.0
    assert not os.path.exists(server.path)
