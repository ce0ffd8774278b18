"""Local mode's objects: values kept in a dict, counted as the head counts them.

In local mode (``_local.py``) there is no object store: every value is kept
pickled, as bytes, in :class:`LocalObjects`. An id stays while this process
holds a ref or handle to it, or a stored value contains it (a list of refs, a
streaming task's completion, a failed task kept for ``rerun``)::

    local_refs transitions (+1 / -1) --apply()--> held ids
    store(oid, bytes, contained) --------------> values, inside[c] += 1
    an id neither held nor inside -------------> dropped, with what only it held
                                                 (an actor id: on_unreachable(aid))

A failed task's error is kept live as well (:meth:`error_bytes`), so the cause
keeps its traceback and ``%debug`` reaches the task's frames.
"""

from __future__ import annotations

import collections
import os
import pickle

from . import _context, _serial
from ._serial import Raised
from .exceptions import TaskError


class LocalObjects:
    """The values of a local-mode runtime and their reference counts (used under its lock).

    Args:
        on_unreachable: ``fn(id)`` for an id that is not a value (an actor's) when the
            last handle and value holding it are gone.
    """

    def __init__(self, on_unreachable):
        self.values: dict[bytes, tuple] = {}     # oid -> (pickled value, is_error, contained)
        self.live: dict[bytes, TaskError] = {}   # error oid -> the TaskError, traceback kept
        self._held: set[bytes] = set()           # ids this process holds a ref/handle to
        self._inside: collections.Counter = collections.Counter()   # id -> holders besides
        self._on_unreachable = on_unreachable

    def store(self, oid, data: bytes, is_error: bool, contained: tuple) -> None:
        if oid in self.values:
            return
        self.values[oid] = (data, is_error, tuple(contained))
        self._inside.update(contained)

    def apply(self, changes) -> None:
        """Apply this process's reference transitions; drop what nothing reaches any more."""
        for oid, delta in changes:
            if delta > 0:
                self._held.add(oid)
            else:
                self._held.discard(oid)
                self._maybe_drop(oid)

    def pin(self, ids) -> list:
        """Hold the values among ``ids`` (a kept failed task's arguments); return those."""
        pinned = [oid for oid in ids if oid in self.values]
        self._inside.update(pinned)
        return pinned

    def unpin(self, ids) -> None:
        for oid in ids:
            self._inside[oid] -= 1
            self._maybe_drop(oid)

    def _maybe_drop(self, oid) -> None:
        todo = [oid]
        while todo:
            oid = todo.pop()
            if oid in self._held or self._inside[oid] > 0:
                continue
            self._inside.pop(oid, None)
            entry = self.values.pop(oid, None)
            if entry is None:
                self._on_unreachable(oid)
                continue
            self.live.pop(oid, None)
            for c in entry[2]:
                self._inside[c] -= 1
                todo.append(c)

    def used(self) -> int:
        """Bytes of the values kept."""
        return sum(len(v[0]) for v in self.values.values())

    def error_bytes(self, oid, err) -> bytes:
        """Bytes that load as ``Raised(err)``: the live error while it is kept here (its
        cause's traceback intact, for the debugger), else its portable pickle."""
        if isinstance(err, TaskError):
            self.live[oid] = err
            return pickle.dumps(_LiveError(oid, _serial.error_bytes(err)))
        return _serial.error_bytes(err)

    def clear(self) -> None:
        self.values.clear()
        self.live.clear()


def read_file(directory: str, oid: bytes) -> bytes:
    """A large value api.py or remote_function.py wrote as a file: read it, delete it.

    The file's layout is the inline layout (``_serial.to_inline``), so its bytes
    load as an INLINE value.
    """
    path = os.path.join(directory, oid.hex())
    with open(path, "rb") as f:
        data = f.read()
    _serial.unlink(path)
    return data


class _LiveError:
    """Pickled in place of a failed task's error (see :meth:`LocalObjects.error_bytes`)."""

    def __init__(self, oid: bytes, portable: bytes):
        self.oid, self.portable = oid, portable

    def __reduce__(self):
        return (_live_raised, (self.oid, self.portable))


def _live_raised(oid: bytes, portable: bytes):
    objects = getattr(_context.peek(), "local_objects", None)
    err = objects.live.get(oid) if objects is not None else None
    return Raised(err) if err is not None else pickle.loads(portable)
