"""Driver threads waiting in ``get``/``wait``: registered under the lock, blocked without it.

A waiting ``get`` registers a :class:`~minirt._objects.Waiter` on the pending
objects under the head's lock, then blocks on a ``threading.Event`` without
it; the control thread sets the event when enough are ready. The files of a
ready object on another node are then copied to node 0 on a copy thread
(:meth:`~minirt._objects.ObjectTable.fetch`) while the caller waits again,
without the lock::

    get(ids) --lock: watch(ids)--> Event.wait() <--set-- control thread: ready
                                         |
            lock: fetch(ids, node 0) --> copies? Event.wait() <--set-- copy thread
                                         |
            lock: descriptors --> (kind, data) per id --> api.py deserializes

Meanwhile a waiting thread serves paused ``breakpoint()`` sessions
(``_debugger.py``), and ``shutdown()`` or a broken runtime wakes it (its
event is in ``head._blocked``). Only used by :class:`~minirt._head.Head`.
"""

from __future__ import annotations

import threading
import time

from . import _debugger
from .exceptions import GetTimeoutError


def get(head, ids, timeout):
    """Wait for ``ids``; return their (kind, data) descriptors for node 0."""
    try:
        return _get(head, ids, timeout)
    finally:
        head.control.flush_logs()

def _get(head, ids, timeout):
    unique = list(dict.fromkeys(ids))
    deadline = None if timeout is None else time.monotonic() + timeout
    ev = threading.Event()
    with head._lock:
        head._check_open()
        head._drain_local()
        lost = head.table.lost(unique)
        if lost:
            raise head.table.lost_error(lost)
        waiter = head.table.watch(unique, len(unique), lambda _t: ev.set(), None)
        if not waiter.fired:
            _block(head, ev)
    if not waiter.fired:
        if not _await(head, ev, waiter, timeout):
            with head._lock:
                head._blocked.discard(ev)
                if not waiter.fired:
                    waiter.fired = True
                    head.table.unwatch(waiter, unique)
                    head.control.print_logs()
                    raise GetTimeoutError(
                        f"get() timed out after {timeout} s: "
                        f"{len(unique) - waiter.count} of {len(unique)} objects not ready")
    while True:
        with head._lock:
            head._blocked.discard(ev)
            head._check_open()
            ev = threading.Event()
            if head.table.fetch(ids, 0, ev.set):    # copies to node 0 run without the lock
                descs = [head.table.descriptor(oid, 0) for oid in ids]
                head._event("get", object=ids[0], objects=len(ids), node=0)
                head.control.print_logs()
                return descs
            head._blocked.add(ev)
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not ev.wait(left):
            with head._lock:
                head._blocked.discard(ev)
            raise GetTimeoutError(
                f"get() timed out after {timeout} s: the objects are ready, but copying "
                "them to the driver's node took longer (the copy goes on)")

def wait(head, ids, num_returns, timeout):
    try:
        return _wait(head, ids, num_returns, timeout)
    finally:
        head.control.flush_logs()

def _wait(head, ids, num_returns, timeout):
    ev = threading.Event()
    with head._lock:
        head._check_open()
        head._drain_local()
        if timeout is not None and timeout <= 0:      # a poll: nothing to register
            head.control.print_logs()
            return head.table.ready_subset(ids)[:num_returns]
        waiter = head.table.watch(ids, num_returns, lambda _t: ev.set(), None)
        if not waiter.fired:
            _block(head, ev)
    if not waiter.fired:
        _await(head, ev, waiter, timeout)
    with head._lock:
        head._blocked.discard(ev)
        head._check_open()
        waiter.fired = True
        head.table.unwatch(waiter, ids)
        ready = head.table.ready_subset(ids)[:num_returns]
        head.control.print_logs()
    return ready

def _block(head, ev) -> None:
    """Under the lock: ``ev`` is set by shutdown, a broken runtime, or a paused
    ``breakpoint()`` session that this thread may serve (``_debugger.Sessions``)."""
    head._blocked.add(ev)
    head.debug.waiters.add(ev)
    if head.debug.pending:
        ev.set()


def _await(head, ev, waiter, timeout) -> bool:
    """``ev.wait(timeout)`` for a waiting get/wait (``ev`` given to :func:`_block`),
    serving paused debugger sessions meanwhile (see ``_debugger``; time spent in the
    debugger does not count). False if ``timeout`` passed first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ev.wait(left)               # (Kernel > Interrupt: KeyboardInterrupt here)
            with head._lock:
                if waiter.fired or head._closed or head._broken is not None:
                    return True
                serve = bool(head.debug.pending) and not head.debug.serving.locked()
                ev.clear()              # whatever sets it next does so under the lock
            if serve:
                t = time.monotonic()
                _debugger.serve(head)
                if deadline is not None:
                    deadline += time.monotonic() - t
            elif deadline is not None and time.monotonic() >= deadline:
                return False
    finally:
        with head._lock:
            head.debug.waiters.discard(ev)
