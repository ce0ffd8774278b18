"""Making room in a node's store: spilling to disk on a helper thread, off the head's lock.

When a new file does not fit in a node's shared memory, the oldest objects
are copied to disk (``_store.py``). That copy may take seconds for GiBs, so
it never runs under the head's lock: every API call would wait for it.
Instead, the part that needs room asks the :class:`Spiller`, which works in
three steps::

    under the lock            spill thread (no lock)          under the lock
    store.plan_spill(size) --> store.write_spills(victims) --> store.end_spill(...)
    (choose and mark the       (copy the files to disk)        (count them as spilled,
     oldest objects)                                            then call then(error))

Meanwhile the object that needs the room stays pending (``get`` waits for
it) and everything else goes on. ``then(None)`` means "try again": the room
was made, but another object may have taken it first, so the caller checks
again and may spill once more. ``then(error)`` carries the spill's
``ObjectStoreFullError`` (or ``OutOfDiskError``) for the caller to raise or
store. One spill thread for the whole head: spills run one at a time, in
the order they were asked for, so a caller that had nothing left to choose
(the spills in progress make its room) is answered after them.
"""

from __future__ import annotations

import concurrent.futures
import time


class Spiller:
    """Spills on a helper thread for the stores of ``nodes`` (see the module docstring).

    Args:
        nodes: the head's list of nodes (their ``store``), shared, not copied.
        locked: ``locked(fn) -> bool`` runs ``fn()`` under the head's lock (False if
            the head is closed and ``fn`` was not run).
        event: ``event(kind, **fields)`` records an event for ``minirt.events()``.
    """

    def __init__(self, nodes, locked, event):
        self._nodes = nodes
        self._locked = locked
        self._event = event
        self._thread = None       # ThreadPoolExecutor(1), made on the first spill

    def make_room(self, node: int, size: int, then) -> bool:
        """Make room for ``size`` more bytes in ``node``'s store (call under the lock).

        Args:
            node: the node's index.
            size: the bytes wanted.
            then: ``then(error)``, called later under the lock if this returns False:
                ``error`` is None (check again) or the spill's ObjectStoreFullError.

        Returns:
            True if they fit now (``then`` is not called).

        Raises:
            ObjectStoreFullError: even spilling everything would not make room.
        """
        store = self._nodes[node].store
        if store.used + size <= store.capacity:
            return True
        victims = store.plan_spill(size)
        if self._thread is None:
            self._thread = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="minirt-spill")
        self._thread.submit(self._spill, node, store, victims, then)
        return False

    def _spill(self, node, store, victims, then) -> None:
        """On the spill thread: write the files, then count them and answer under the lock."""
        t0 = time.time()
        try:
            copied, failed, error = store.write_spills(victims)
        except Exception as e:   # noqa: BLE001 - not expected; the waiter must hear of it
            copied, failed, error = [], None, e
        seconds = time.time() - t0

        def end():
            err = store.end_spill(victims, copied, failed, error)
            if copied:
                self._event("spill", node=node, objects=len(copied), seconds=seconds,
                            bytes=sum(n for oid, n in victims if oid in copied))
            then(err)
        self._locked(end)

    def close(self) -> None:
        """Wait for the spill in progress (call without the lock: it ends under it)."""
        if self._thread is not None:
            self._thread.shutdown(wait=True, cancel_futures=True)
