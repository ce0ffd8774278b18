"""Object references and the per-process reference table.

An :class:`ObjectRef` names an object that exists, or will exist, in the
object store. It is a future: ``.remote()`` hands one back at once and
``minirt.get`` waits for the value ("Tasks" lesson).

Freeing objects needs to know when *no process* holds a reference any more.
Each process keeps a count per id (:class:`_LocalRefs`); only the
transitions 0 -> 1 ("this process now holds it") and 1 -> 0 ("it no longer
does") travel to the head, which adds them up across processes::

    ObjectRef() / unpickle --incref--> _LocalRefs --(+id)--> head refcount
    ObjectRef.__del__   --deque----> _LocalRefs --(-id)--> head refcount

``__del__`` may run inside any thread at any moment (the garbage collector),
so it only appends to a deque; the deque is drained at safe points.

While a value is being pickled, :func:`collecting` records every reference
(and actor handle) inside it, so the head can keep those alive for as long
as the containing object or task needs them.
"""

from __future__ import annotations

import collections
import itertools
import os
import threading

_prefix = os.urandom(8)
_counter = itertools.count(1)


def new_id() -> bytes:
    """A process-unique 16-byte id: 8 random bytes of this process, then a counter."""
    return _prefix + next(_counter).to_bytes(8, "big")


def reseed_ids() -> None:
    """Give a freshly forked process its own id prefix."""
    global _prefix, _counter
    _prefix = os.urandom(8)
    _counter = itertools.count(1)


class _LocalRefs:
    """Counts the references this process holds, and reports transitions."""

    def __init__(self) -> None:
        self._counts: dict[bytes, int] = {}
        self._lock = threading.Lock()
        self._dropped: collections.deque[bytes] = collections.deque()
        self._changes: list[tuple[bytes, int]] = []

    def incref(self, oid: bytes) -> None:
        with self._lock:
            c = self._counts.get(oid, 0)
            self._counts[oid] = c + 1
            if c == 0:
                self._changes.append((oid, 1))

    def decref_later(self, oid: bytes) -> None:
        # Called from __del__: must not take a lock (see module docstring).
        self._dropped.append(oid)

    def pending(self) -> bool:
        """Whether there are changes to send (cheap: no lock)."""
        return bool(self._dropped or self._changes)

    def take_changes(self) -> list[tuple[bytes, int]]:
        """Apply pending drops and return the ordered (id, +1/-1) transitions."""
        if not self._dropped and not self._changes:
            return []
        with self._lock:
            dropped, counts, changes = self._dropped, self._counts, self._changes
            while dropped:
                oid = dropped.popleft()
                c = counts.get(oid, 0) - 1
                if c > 0:
                    counts[oid] = c
                elif c == 0:
                    del counts[oid]
                    changes.append((oid, -1))
            self._changes = []
            return changes


local_refs = _LocalRefs()
_collector = threading.local()


class collecting:
    """Context manager: record ids of refs/handles pickled inside the block."""

    def __enter__(self) -> list[bytes]:
        self._saved = getattr(_collector, "ids", None)
        _collector.ids = []
        return _collector.ids

    def __exit__(self, *exc) -> None:
        _collector.ids = self._saved


def note_pickled(oid: bytes) -> None:
    ids = getattr(_collector, "ids", None)
    if ids is not None:
        ids.append(oid)


_get = None     # minirt.get, set by api.py at import (this module sits below api)


def set_get(get) -> None:
    global _get
    _get = get


class Counted:
    """Base of ObjectRef and ActorHandle: each instance is one reference this process
    holds to the id in its attribute named by ``_counted`` (counted up in ``__init__``)."""

    __slots__ = ()
    _counted = ""

    def __del__(self) -> None:
        try:
            local_refs.decref_later(getattr(self, self._counted))
        except Exception:  # interpreter shutdown: module globals may be gone
            pass


class ObjectRef(Counted):
    """A reference to an object in the store; hashable, equal by id, a future.

    Example:
        >>> import minirt
        >>> ref = minirt.put(41)
        >>> minirt.get(ref) + 1
        42

    Lesson: lessons/01_tasks.ipynb and lessons/03_objects.ipynb.
    """

    __slots__ = ("_id", "__weakref__")
    _counted = "_id"

    def __init__(self, oid: bytes):
        self._id = oid
        local_refs.incref(oid)

    def hex(self) -> str:
        """The id as a hexadecimal string."""
        return self._id.hex()

    def binary(self) -> bytes:
        return self._id

    def __hash__(self) -> int:
        return hash(self._id)

    def __eq__(self, other) -> bool:
        return isinstance(other, ObjectRef) and other._id == self._id

    def __repr__(self) -> str:
        return f"ObjectRef({self._id.hex()})"

    def __reduce__(self):
        note_pickled(self._id)
        return (ObjectRef, (self._id,))

    # _repr_html_ (Jupyter: id, pending/ready/failed, size, node) is given by util/_reprs.py.

    def __await__(self):
        """``await ref`` (in an async actor method or the driver's event loop) gives the value.

        The wait happens on a helper thread, so the event loop goes on meanwhile;
        ``asyncio.gather(*refs)`` and ``asyncio.wait_for(ref, t)`` work too.
        """
        import asyncio
        return asyncio.wrap_future(self.future()).__await__()

    def future(self):
        """A ``concurrent.futures.Future`` that completes with the value."""
        import concurrent.futures
        fut: concurrent.futures.Future = concurrent.futures.Future()

        def fill() -> None:
            try:
                value, error = _get(self), None
            except BaseException as e:  # delivered to the future's reader
                value, error = None, e
            try:
                if error is None:
                    fut.set_result(value)
                else:
                    fut.set_exception(error)
            except concurrent.futures.InvalidStateError:
                pass                    # the reader cancelled it (asyncio.wait_for timed out)
        threading.Thread(target=fill, daemon=True, name="minirt-future").start()
        return fut
