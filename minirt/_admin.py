"""The private control socket: how ``minirt status`` (another process) asks a running runtime.

A Unix socket in the session directory (``admin.sock``, mode 0600, in a 0700
directory: only this user reaches it; never TCP), served by a daemon thread
of the driver. One request per connection, as one line of JSON, answered with
one line of JSON::

    minirt CLI --{"op": "list", "args": {...}}\\n--> admin.sock --> accept thread
                                                                  | one short-lived
    minirt CLI <--{"ok": true, "value": ...}\\n------- handler <---+ thread per request
                                                  (HANDLERS[op](head, args))

A request never blocks the runtime: the handlers copy what they need in one
short hold of the head's lock, taken with a timeout (``minirt.util.cli``
registers them; this module knows only ``ping``), and format outside it. A
client cannot hurt it either: at most :data:`MAX_REQUESTS` are served at
once (more are refused), and each connection has :data:`CONN_TIMEOUT`
seconds in total to send its request and read the answer. The socket is
closed and removed at shutdown.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import traceback
from typing import Callable

MAX_REQUESTS = 4            # requests served at the same time; more are refused
CONN_TIMEOUT = 10.0         # seconds a client has to send its request and read the answer
REQUEST_MAX = 1 << 20       # bytes of one request line, at most

# op -> handler(head, args: dict) -> a JSON-able value; add-ons register theirs at import.
HANDLERS: dict[str, Callable] = {}


def _ping(head, args: dict) -> dict:
    return {"pid": os.getpid(), "started_at": head.started_at, "namespace": head.namespace,
            "session": os.path.dirname(head.admin.path) if head.admin else None,
            "nodes": len(head.nodes)}


HANDLERS["ping"] = _ping


class AdminServer:
    """Serves :data:`HANDLERS` on a Unix socket at ``path`` (see the module docstring)."""

    def __init__(self, head, path: str):
        self.head = head
        self.path = path
        self._closed = False
        self._active = threading.BoundedSemaphore(MAX_REQUESTS)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with _short_address(path) as address:
                self._sock.bind(address)
            os.chmod(path, 0o600)        # the directory is 0700: nobody else got in before
            self._sock.listen(16)        # blocking accept(): close() wakes it by connecting
        except BaseException:
            self._sock.close()
            raise
        self._thread = threading.Thread(target=self._serve, name="minirt-admin", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:              # shut down by close()
                break
            if self._closed:             # woken by close()
                conn.close()
                break
            if not self._active.acquire(blocking=False):
                conn.settimeout(0.2)
                try:
                    conn.recv(REQUEST_MAX)     # read the request: closing on unread data
                except OSError:                # would reset the connection, answer unread
                    pass
                _reply(conn, {"ok": False, "error": f"the runtime is already answering "
                                                    f"{MAX_REQUESTS} requests; try again"})
                conn.close()
                continue
            threading.Thread(target=self._one, args=(conn,), name="minirt-admin-request",
                             daemon=True).start()
        self._sock.close()

    def _one(self, conn) -> None:
        try:
            deadline = time.monotonic() + CONN_TIMEOUT     # for the whole request, in total
            data = b""
            while not data.endswith(b"\n"):
                left = deadline - time.monotonic()
                if len(data) > REQUEST_MAX or left <= 0:
                    return
                conn.settimeout(left)
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            try:
                req = json.loads(data)
                op, args = req["op"], req.get("args") or {}
                handler = HANDLERS[op]
            except (ValueError, KeyError, TypeError):
                _reply(conn, {"ok": False, "error": f"bad request {data[:200]!r}; known "
                                                    f"requests: {sorted(HANDLERS)}"})
                return
            if self._closed or self.head._closed:
                _reply(conn, {"ok": False, "error": "the runtime is shutting down"})
                return
            try:
                value = handler(self.head, args)
                answer = {"ok": True, "value": value}
            except Exception as e:  # noqa: BLE001 - the client shows it
                answer = {"ok": False, "error": f"{type(e).__name__}: {e}",
                          "traceback": traceback.format_exc()}
            conn.settimeout(max(0.1, deadline - time.monotonic()))
            _reply(conn, answer)
        except OSError:
            pass                       # the client went away or was too slow
        finally:
            conn.close()
            self._active.release()

    def close(self) -> None:
        """Stop serving and remove the socket (requests being answered finish on their own)."""
        if self._closed:
            return
        self._closed = True
        try:                            # wake the accept() up: it sees _closed and ends
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s, \
                    _short_address(self.path) as address:
                s.settimeout(0.5)
                s.connect(address)
        except OSError:
            pass
        if self._thread is not threading.current_thread():
            self._thread.join(1.0)
        if self._thread.is_alive():     # not woken (backlog full?): shutdown() ends accept()
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


def _reply(conn, answer: dict) -> None:
    try:
        conn.sendall(json.dumps(answer, default=str).encode() + b"\n")
    except OSError:
        pass


class _short_address:
    """A socket address for ``path``: itself if short enough, else a path through
    ``/proc/self/fd`` of its directory (Unix socket addresses are at most 107 bytes)."""

    def __init__(self, path: str):
        self.path = path
        self.fd = None

    def __enter__(self) -> str:
        if len(self.path.encode()) < 100:
            return self.path
        self.fd = os.open(os.path.dirname(self.path), os.O_RDONLY | os.O_DIRECTORY)
        return f"/proc/self/fd/{self.fd}/{os.path.basename(self.path)}"

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)


def request(path: str, op: str, args: dict | None = None, timeout: float = 10.0):
    """Send one request to the runtime serving ``path``; return its value.

    Raises:
        ConnectionError: nothing answers at ``path`` (no runtime).
        RuntimeError: the runtime answered with an error.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            with _short_address(path) as address:
                sock.connect(address)
        except (FileNotFoundError, ConnectionRefusedError) as e:
            raise ConnectionError(f"no runtime answers at {path}") from e
        sock.sendall(json.dumps({"op": op, "args": args or {}}).encode() + b"\n")
        chunks = []
        while True:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        sock.close()
    data = b"".join(chunks)
    if not data:
        raise ConnectionError(f"the runtime at {path} closed the connection without answering")
    try:
        answer = json.loads(data)
    except ValueError as e:
        raise ConnectionError(f"the runtime at {path} sent a broken answer ({e})") from e
    if not answer.get("ok"):
        raise RuntimeError(answer.get("error", "unknown error"))
    return answer["value"]
