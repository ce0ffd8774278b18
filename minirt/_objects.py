"""The object table: what exists, where it lives, who still needs it.

The head keeps one :class:`Obj` per object id. An object is *pending* until
its producer (a task, or ``put``) stores it, then *ready*. Its value is
either inline bytes or a file present in one or more nodes' stores.

Reference counting: ``refs`` counts the processes holding an ``ObjectRef``
to it, plus pins (a task that takes it as an argument, an object whose value
contains it). When a count drops to zero the object is freed: its files are
deleted and the objects it contained are unpinned in turn (with a work list,
not recursion: a linked list of 100,000 nested refs is freed too)::

    +1 from a process / pin ----> refs ----> -1 reaches 0 ---> free files,
                                                              unpin contained

Waiting (``get``/``wait``) registers a :class:`Waiter` on pending objects;
each one that becomes ready counts the waiter up, which fires its callback
once enough are ready. A waiter that returns early (enough ready, timeout) is
removed from the objects still pending, so polling ``wait(timeout=...)`` in a
loop leaves nothing behind. An id that can never become ready (freed, or
from an earlier runtime) counts as ready: ``get`` on it raises
``ObjectLostError``.

The table knows nothing of tasks or actors: readiness is reported through
the waiters' callbacks, and ids it does not own (actor handles) are handed
to the ``count_other`` callback the head gives it. Always used under the
head's lock; its slow file work runs on helper threads: copies between
nodes (:meth:`ObjectTable.fetch`) and spills (``_spill.py``: a file that
does not fit waits, pending, until a spill made room).
"""

from __future__ import annotations

import concurrent.futures
import heapq
import time

from ._serial import FILE, INLINE, error_bytes
from ._spill import Spiller
from ._store import copy_private
from .exceptions import ObjectLostError, ObjectStoreFullError


class Obj:
    """One object's entry: its value (inline bytes or where its file is), refs, waiters."""

    __slots__ = ("refs", "ready", "kind", "data", "size", "locs", "is_error",
                 "waiters", "contained", "producer")

    def __init__(self):
        self.refs = 0
        self.ready = False
        self.kind = INLINE
        self.data = None           # inline bytes
        self.size = 0
        self.locs = ()             # node indices holding the file
        self.is_error = False
        self.waiters = None        # list of Waiter / tasks waiting for this object
        self.contained = ()        # ids pinned by this object's value
        self.producer = None       # the _Task that will store it


class Waiter:
    """Fires ``callback`` once ``need`` of the objects it watches are ready."""

    __slots__ = ("need", "count", "callback", "fired", "deadline")

    def __init__(self, need: int, callback, deadline: float | None):
        self.need = need
        self.count = 0
        self.callback = callback
        self.fired = False
        self.deadline = deadline

    def __lt__(self, other):  # for the timer heap
        return self.deadline < other.deadline

    def hit(self) -> None:
        self.count += 1
        if self.count >= self.need and not self.fired:
            self.fired = True
            self.callback(False)

    def expire(self) -> None:
        if not self.fired:
            self.fired = True
            self.callback(True)


class ObjectTable:
    """Objects, reference counts, waiting (see the module docstring).

    Args:
        nodes: the head's list of nodes (their ``store``), shared, not copied.
        event: ``event(kind, **fields)`` records an event for ``minirt.events()``.
        wake: wakes the control thread (a waiter with a deadline was added).
        count_other: ``count_other(id, +1 | -1) -> bool`` counts a reference to an id
            that is not an object (an actor handle); False if nobody owns that id.
        locked: ``locked(fn)`` runs ``fn()`` under the head's lock (from a copy thread).
    """

    def __init__(self, nodes, event, wake, count_other, locked):
        self.objects: dict[bytes, Obj] = {}
        self.timers: list[Waiter] = []
        self._nodes = nodes
        self._event = event
        self._wake = wake
        self._count_other = count_other
        self._locked = locked
        self._copying: dict[tuple, list] = {}    # (id, node) -> callbacks waiting for the copy
        self._failed: dict[tuple, Exception] = {}   # copies that failed: descriptor() raises
        self._copier = None                      # ThreadPoolExecutor, made on the first copy
        self.spiller = Spiller(nodes, locked, event)   # makes room in a full store, off the lock
        self._storing: set[bytes] = set()        # stored once a spill made room (see store)

    # --- reference counting ---------------------------------------------
    def incr(self, oid: bytes) -> None:
        obj = self.objects.get(oid)
        if obj is None:
            if self._count_other(oid, +1):
                return
            obj = self.objects[oid] = Obj()    # counted before its producer is known
        obj.refs += 1

    def decr(self, oid: bytes) -> None:
        todo = [oid]          # ids to count down: freeing one may free what it contained
        while todo:
            oid = todo.pop()
            obj = self.objects.get(oid)
            if obj is None:
                self._count_other(oid, -1)
                continue
            obj.refs -= 1
            if obj.refs <= 0:
                del self.objects[oid]
                if obj.kind == FILE:
                    for n in obj.locs:
                        self._nodes[n].store.remove(oid)
                    if self._failed:               # a failed copy of it is news to nobody now
                        for n in range(len(self._nodes)):
                            self._failed.pop((oid, n), None)
                todo.extend(obj.contained)

    def pop_refs(self, oid: bytes) -> int:
        """Forget ``oid`` and return the references counted for it (an actor id's handles)."""
        obj = self.objects.pop(oid, None)
        return obj.refs if obj is not None else 0

    # --- storing ----------------------------------------------------------
    def store(self, oid, kind, data, is_error, contained, node, producer="put") -> None:
        """Record a value that a producer on ``node`` has made (inline or as a file).

        A file that does not fit in the node's store waits, pending, while the
        spill thread makes room (``_spill.py``), and is stored then; if that
        fails, the object's value is the error.
        """
        obj = self.objects.get(oid)
        if obj is None or obj.ready:
            # Nobody wants it any more (freed while pending), or a retry stored it twice.
            if kind == FILE:
                self.discard_file(oid, node)
            return
        if kind == FILE:
            try:
                if not self.room(oid, data, node, lambda error: self._store_later(
                        error, oid, data, is_error, contained, node, producer)):
                    self._storing.add(oid)         # pending, not lost (see lost())
                    for c in contained:            # pinned while it waits
                        self.incr(c)
                    return
                self._nodes[node].store.add(oid, data)
            except Exception as e:  # ObjectStoreFullError: store the error instead
                self.discard_file(oid, node)
                kind, data, is_error = INLINE, error_bytes(e), True
                contained = ()
        self._storing.discard(oid)
        obj.kind = kind
        if kind == FILE:
            obj.size, obj.locs = data, (node,)
        else:
            obj.data, obj.size = data, len(data)
        obj.is_error = is_error
        obj.producer = None
        for c in contained:
            self.incr(c)
        obj.contained = tuple(contained)
        obj.ready = True
        self._event("store", object=oid, task=producer, node=node, bytes=obj.size,
                    where="shared memory" if kind == FILE else "inline", error=is_error)
        waiters, obj.waiters = obj.waiters, None
        if waiters:
            for w in waiters:
                w.hit()

    def _store_later(self, error, oid, data, is_error, contained, node, producer) -> None:
        """The spill that ``store`` waited for has ended: store the file (or the error)."""
        self._storing.discard(oid)
        if error is None:
            self.store(oid, FILE, data, is_error, contained, node, producer)
        else:
            self.discard_file(oid, node)
            self.store(oid, INLINE, error_bytes(error), True, (), node, producer)
        for c in contained:
            self.decr(c)                           # the pin taken while it waited

    def room(self, oid, size, node, then) -> bool:
        """True if the file of ``oid`` can be counted in ``node``'s store now; else False,
        and ``then(error)`` is called under the lock once a spill made room (or failed).
        Raises ObjectStoreFullError if it can never fit."""
        if not self._nodes[node].store.needs_room(oid, size):
            return True
        return self.spiller.make_room(node, size, then)

    def discard_file(self, oid, node) -> None:
        """Delete a file nobody will read (in shared memory or spilled by its producer)."""
        self._nodes[node].store.discard(oid)

    # --- reading ----------------------------------------------------------
    def descriptor(self, oid: bytes, node: int):
        """(kind, data) for a reader on ``node``, whose files :meth:`fetch` brought there.

        Raises:
            ObjectStoreFullError: the copy to ``node`` failed (the store could not take it).
        """
        obj = self.objects[oid]
        if obj.kind == INLINE:
            return (INLINE, obj.data)
        if node not in obj.locs:
            error = self._failed.pop((oid, node), None)
            raise ObjectStoreFullError(f"could not copy object {oid.hex()} into node {node}'s "
                                       f"store: {error or 'the copy did not happen'}")
        return (FILE, self._nodes[node].store.locate(oid))

    def fetch(self, oids, node: int, then) -> bool:
        """Make sure the files of ``oids`` are in ``node``'s store, without the lock.

        Returns True if they are already there. Otherwise the missing ones are
        copied on a copy thread (a simulated network transfer may take seconds:
        nobody waits for it under the head's lock), and ``then()`` is called
        under the lock once every copy has ended. A copy that failed is left to
        :meth:`descriptor`, which raises its error.
        """
        missing = []
        for oid in dict.fromkeys(oids):
            obj = self.objects.get(oid)
            if obj is not None and obj.ready and obj.kind == FILE and node not in obj.locs:
                if (oid, node) not in self._failed:      # (else descriptor() raises)
                    missing.append(oid)
        if not missing:
            return True
        left = [len(missing)]

        def one_done():
            left[0] -= 1
            if not left[0]:
                then()
        for oid in missing:
            waiting = self._copying.get((oid, node))
            if waiting is not None:
                waiting.append(one_done)
                continue
            self._copying[(oid, node)] = [one_done]
            obj = self.objects[oid]
            obj.refs += 1                          # pinned while it is copied
            src = self._nodes[obj.locs[0]].store.locate(oid)[0]
            if self._copier is None:
                self._copier = concurrent.futures.ThreadPoolExecutor(
                    2, thread_name_prefix="minirt-copy")
            self._copier.submit(self._copy, oid, obj.locs[0], node, src, obj.size)
        return False

    def _copy(self, oid, src_node, node, src, size) -> None:
        """On a copy thread: copy the file, then record it under the lock."""
        t0 = time.time()
        try:
            copy_private(src, self._nodes[node].store.shm_path(oid))
            error = None
        except Exception as e:   # noqa: BLE001 - OSError, or a bug: the readers must hear of it
            error = e
        self._locked(lambda: self._copied(oid, src_node, node, size, error, time.time() - t0))

    def _copied(self, oid, src_node, node, size, error, seconds) -> None:
        store = self._nodes[node].store
        obj = self.objects.get(oid)
        ok = error is None and obj is not None and obj.kind == FILE
        if ok:
            try:
                if not self.room(oid, size, node, lambda err: self._copied(
                        oid, src_node, node, size, err, seconds)):
                    return                       # still pinned; called again once spilled
                store.add(oid, size)
            except ObjectStoreFullError:
                ok = False
        if ok:
            obj.locs = obj.locs + (node,)
            self._event("copy", object=oid, src=src_node, dst=node, bytes=size, seconds=seconds)
        else:
            store.discard(oid)
            self._failed[(oid, node)] = error or ObjectStoreFullError(
                f"node {node}'s object store could not take {size} more bytes")
        callbacks = self._copying.pop((oid, node), ())
        self.decr(oid)                            # unpinned
        for callback in callbacks:
            callback()

    def close(self) -> None:
        """Wait for the copies and spills in progress (call without the lock: they end
        under it)."""
        if self._copier is not None:
            self._copier.shutdown(wait=True, cancel_futures=True)
        self.spiller.close()

    def watch(self, ids, need: int, callback, timeout: float | None) -> Waiter:
        """Call ``callback(timed_out)`` once ``need`` of ``ids`` are ready (or at the timeout)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        w = Waiter(need, callback, deadline)
        objs = self.objects
        for oid in ids:
            obj = objs.get(oid)
            if obj is None or obj.ready or (obj.producer is None and oid not in self._storing):
                w.count += 1      # ready, or lost (see lost): get() raises ObjectLostError
            else:
                if obj.waiters is None:
                    obj.waiters = []
                obj.waiters.append(w)
        if w.count >= need:
            w.fired = True
            callback(False)
        elif deadline is not None:
            heapq.heappush(self.timers, w)
            self._wake()
        return w

    def unwatch(self, w: Waiter, ids) -> None:
        """Forget a waiter that is done (fired or given up) on the objects still pending."""
        objs = self.objects
        for oid in ids:
            obj = objs.get(oid)
            if obj is not None and obj.waiters:
                try:
                    obj.waiters.remove(w)
                except ValueError:
                    pass
                if not obj.waiters:
                    obj.waiters = None

    def run_timers(self) -> float | None:
        """Expire due waiters; return seconds until the next deadline (or None)."""
        now = time.monotonic()
        timers = self.timers
        while timers and (timers[0].fired or timers[0].deadline <= now):
            heapq.heappop(timers).expire()
        return max(0.0, timers[0].deadline - now) if timers else None

    def lost(self, ids) -> list[bytes]:
        """Ids that will never become ready: freed already, or never made by anyone.

        Between two messages every pending object has a producer (a task), so a
        pending one without a producer can only be a stale reference.
        """
        objs = self.objects
        return [oid for oid in ids
                if (o := objs.get(oid)) is None
                or (not o.ready and o.producer is None and oid not in self._storing)]

    @staticmethod
    def lost_error(oids):
        return ObjectLostError(
            f"object {oids[0].hex()} is gone: it was freed (no reference to it was left) or it "
            "was never created in this runtime (a reference saved from an earlier session?)")

    def ready_subset(self, ids) -> list[bytes]:
        """The ids that are ready, or lost (they count as ready, see watch), in order."""
        objs = self.objects
        return [oid for oid in ids
                if (o := objs.get(oid)) is None or o.ready
                or (o.producer is None and oid not in self._storing)]
