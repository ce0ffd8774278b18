"""The minirt API inside a worker: each call is a message or a request to the head.

A worker's :class:`WorkerCore` is its :class:`~minirt._context.Core`: what
``api.py`` calls when user code in a task uses minirt (nested tasks,
``get``/``wait``/``put``...). One-way calls are messages; calls that need an
answer are requests, answered by a ``("reply", ...)`` message::

    user code --get(ref)--> request("get") --("req", rid, "get", ...)--> head
                               ^  waits for rid                            |
                               +----------- ("reply", rid, ok, value) <----+

Whichever thread is waiting for a reply reads the pipe on everyone's behalf
("leader/follower"); messages that are not replies (an actor's next calls,
say) are kept in a backlog for the main loop (``_worker.py``). Reference
changes (``_refs.py``) ride along with every message.
"""

from __future__ import annotations

import collections
import itertools
import os
import signal
import threading

from . import _procs, _protocol, _refs, _worker_signals as signals
from ._serial import FILE
from ._worker_output import flush_streams
from ._worker_signals import deferred_cancel, unblocked_signals


class _Reply:
    __slots__ = ("event", "ok", "value")

    def __init__(self):
        self.event = threading.Event()
        self.ok = self.value = None


_CANCELS_KEPT = 1024      # task ids of cancels remembered (late ones name ended tasks)


class WorkerCore:
    """The minirt API as seen from inside a worker: requests to the head
    (a :class:`~minirt._context.Core`). ``_worker.Worker`` adds running tasks."""

    is_driver = False
    started_at = 0.0

    def __init__(self, conn, cfg: dict):
        self.conn = conn
        self.cfg = cfg
        self.shm_dir = cfg["shm_dir"]
        self.spill_dir = cfg["spill_dir"]
        self._send_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._replies: dict[int, _Reply] = {}
        self._req_ids = itertools.count(1)
        self.backlog: collections.deque = collections.deque()
        self._known_fns: set = set()
        self.fns: dict = {}
        self.current_task = None        # TaskSpec being run by the main thread
        self.actor = None               # the actor instance, in an actor's worker
        self.actor_id = None
        self.actor_name = None
        self.pool = None                # ThreadRunner or AsyncRunner: calls side by side
        self.cancelled: set = set()     # sent calls cancelled before they started (no pool)
        self.cancel_tids: dict = {}     # tasks the head sent a cancel for (an ordered set)
        self.dropped: set = set()       # queued tasks the head took back: never run them
        self.was_restarted = False
        self.namespace = cfg["namespace"]
        self.max_node = cfg["max_node"]
        self.node_id = cfg["node_id"]
        self.worker_name = f"worker-{cfg['wid']}"

    # --- sending and receiving -------------------------------------------
    def send(self, msg) -> None:
        """Send one message; a cancel arriving meanwhile waits until it is all sent."""
        if signals.in_user_code > 0:           # only then can a cancel raise (see on_cancel)
            with deferred_cancel():
                self._send(msg)
        else:
            self._send(msg)

    def _send(self, msg) -> None:
        with self._send_lock:
            changes = _refs.local_refs.take_changes()
            if changes:
                msg = (msg[0], changes) + msg[2:]
            try:
                self.conn.send_bytes(_protocol.dumps(msg))
            except (BrokenPipeError, ConnectionResetError):
                driver_gone()

    def readable(self, timeout: float = 0.0) -> bool:
        """Whether the pipe holds a message (or has closed), waiting up to ``timeout`` s.
        (Not ``conn.poll``: it builds a selector per call, 4 us before every task.)"""
        return _procs.readable(self.conn.fileno(), timeout)

    def _recv(self):
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            driver_gone()

    def _dispatch(self, msg) -> None:
        if msg[0] == "reply":
            r = self._replies.pop(msg[2])
            r.ok, r.value = msg[3], msg[4]
            r.event.set()
        elif msg[0] == "call" and self.pool is not None:
            self.pool.submit(msg)
        elif msg[0] == "cancel_call":
            self.cancel_call(msg[2])
        elif msg[0] == "cancel_task":        # for the running task, a queued one or an ended one
            self.cancel_tids[msg[2]] = None
            if len(self.cancel_tids) > _CANCELS_KEPT:
                del self.cancel_tids[next(iter(self.cancel_tids))]
        elif msg[0] == "drop_tasks":         # queued tasks the head has placed elsewhere
            self.dropped.update(msg[2])
        else:
            self.backlog.append(msg)

    def request(self, op: str, *args):
        """Send a request to the head and wait for its reply (see module docstring)."""
        rid = next(self._req_ids)
        r = self._replies[rid] = _Reply()
        self.send(("req", None, rid, op, args))
        # A cancelled task blocked here must still get its KeyboardInterrupt, but
        # never in the middle of reading a message: poll, then check the flag.
        cancellable = threading.current_thread() is threading.main_thread()
        while not r.event.is_set():
            if cancellable and signals.pending_interrupt and signals.cancel_due():
                raise KeyboardInterrupt("task cancelled")
            if self._read_lock.acquire(blocking=False):
                try:
                    while not r.event.is_set():
                        if cancellable and signals.pending_interrupt and \
                                signals.cancel_due(locked=True):
                            raise KeyboardInterrupt("task cancelled")
                        if self.readable(0.05):
                            self._dispatch(self._recv())
                finally:
                    self._read_lock.release()
            else:
                r.event.wait(0.005)
        if not r.ok:
            raise r.value
        return r.value

    # --- the core interface used by api.py --------------------------------
    def register_fn(self, fn_id, data: bytes) -> None:
        if fn_id not in self._known_fns:
            self.send(("fn", None, fn_id, data))
            self._known_fns.add(fn_id)

    def submit(self, spec):
        if spec.kind == "actor":           # may fail (name taken): wait for the answer
            return self.request("create_actor", spec)
        self.send(("submit", None, spec))
        return None

    def put(self, oid, kind, data, contained) -> None:
        if kind == FILE:        # the store may be full: raise ObjectStoreFullError here
            self.request("put_file", oid, data, contained)
        else:
            self.send(("put", None, oid, kind, data, contained))

    def get(self, ids, timeout):
        with unblocked_signals():
            return self.request("get", ids, timeout)

    def wait(self, ids, num_returns, timeout):
        with unblocked_signals():
            return self.request("wait", ids, num_returns, timeout)

    def cancel(self, oid, force, recursive) -> None:
        self.send(("cancel", None, oid, force, recursive))

    def kill_actor(self, aid, no_restart) -> None:
        self.send(("kill", None, aid, no_restart))

    def exit_actor(self) -> None:
        if self.actor_id is None:
            raise TypeError("exit_actor() ends the actor that calls it, and this is a task, "
                            "not an actor method: return from the task instead")
        self.send(("exit_actor", None, self.actor_id))
        flush_streams()
        os._exit(0)

    def is_canceled(self) -> bool:
        return signals.cancel_seen and self.current_task is not None

    def call(self, op, *args):
        """Any other question for the head (get_actor, resources, nodes, ...)."""
        return self.request(op, *args)

    def drain_refs(self) -> None:
        if _refs.local_refs.pending():
            self.send(("refs", None))

    def log_prefix(self) -> str:
        spec = self.current_task
        name = self.actor_name or (spec.name if spec is not None else "worker")
        return f"{name} pid={os.getpid()}"


def driver_gone() -> None:
    """The pipe to the driver closed: take what this worker started along, and exit."""
    try:
        for p in _procs.descendants_of([os.getpid()])[os.getpid()]:
            p.kill()                          # those that left our group as well
    except Exception:   # noqa: BLE001 - exiting regardless
        pass
    try:
        if os.getpgid(0) == os.getpid():     # our own group (see main): subprocesses too
            os.killpg(0, signal.SIGKILL)
    except OSError:
        pass
    os._exit(0)
