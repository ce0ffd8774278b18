"""Streaming generators: a task or actor method that ``yield``s hands out each value as it comes.

``.remote()`` of a generator function (or with ``num_returns="streaming"``)
returns an :class:`ObjectRefGenerator`. The worker stores every yielded value
as an object of its own, whose id both sides derive from the task id and the
item's index, and tells the head at once (a ``"yield"`` message); the caller
iterates refs as they become ready::

    worker: next(gen) -> store item i as item_id(tid, i) --("yield")--> head: ready
    caller: next(refs) -> wait for item i, or for the task's end --> ObjectRef / StopIteration

The worker holds a reference to every item it yielded and returns the list of
them as the task's own result (the *completion* object), so each item lives as
long as the generator or any ref to it does (Ray's rule too). An error raised
by the generator becomes the next item: ``get`` of that ref raises it, and the
stream ends there. Lesson: lessons/08_patterns.ipynb.
"""

from __future__ import annotations

import hashlib

from . import _context, _serial
from ._refs import ObjectRef


def item_id(tid: bytes, index: int) -> bytes:
    """The object id of the ``index``-th value a streaming task yields."""
    return hashlib.blake2b(tid + index.to_bytes(8, "little"), digest_size=len(tid)).digest()


class ObjectRefGenerator:
    """The refs of a streaming task's values, in order, each as soon as it is ready.

    >>> @minirt.remote
    ... def count(n):
    ...     for i in range(n):
    ...         yield i * i
    >>> [minirt.get(ref) for ref in count.remote(4)]
    [0, 1, 4, 9]
    """

    def __init__(self, tid: bytes, completion: ObjectRef):
        self._tid = tid
        self._completion = completion
        self._index = 0
        self._finished = False

    def __iter__(self):
        return self

    def __next__(self) -> ObjectRef:
        ref = self._next(None)
        if ref is None:
            raise StopIteration
        return ref

    def __aiter__(self):
        return self

    async def __anext__(self) -> ObjectRef:
        import asyncio
        ref = await asyncio.get_running_loop().run_in_executor(None, self._next, None)
        if ref is None:
            raise StopAsyncIteration
        return ref

    def next_ready(self, timeout: float | None = None):
        """The next item's ref if it is ready within ``timeout`` seconds, else None.

        Raises:
            StopIteration: the task ended and every item was handed out.
        """
        ref = self._next(timeout, block_end=False)
        if ref is None and self._finished:
            raise StopIteration
        return ref

    def is_finished(self) -> bool:
        """Whether the task has ended and every item was handed out."""
        return self._finished

    def completed(self) -> ObjectRef:
        """A ref that is ready once the task has ended (its value: the list of item refs)."""
        return self._completion

    def _next(self, timeout, block_end=True):
        if self._finished:
            return None
        core = _context.current()
        item = ObjectRef(item_id(self._tid, self._index))
        end = self._completion._id
        if not core.wait([item._id, end], 1, timeout):
            return None                                    # timed out
        if core.wait([end], 1, 0):
            # The task has ended: its value lists exactly the items it yielded.
            kind, data = core.get([end], None)[0]
            items = _serial.load(kind, data)
            if type(items) is _serial.Raised:              # it failed as a whole (crashed...):
                self._finished = True
                return self._completion                    # whose get raises that error
            if self._index >= len(items):
                self._finished = True
                return None
        self._index += 1
        return item

    def __repr__(self) -> str:
        return f"ObjectRefGenerator({self._tid.hex()}, next item {self._index})"
