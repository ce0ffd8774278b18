"""``Queue``: a first-in, first-out queue that tasks, actors and the driver share.

The queue lives in one actor; a :class:`Queue` object is a small handle to it
that can be passed to tasks and actors like any other value. Blocking calls
wait inside the actor (each on its own thread of the actor, so a blocked
``get`` does not stop a ``put`` from getting in)::

    producer task --put(item)--> [ _QueueActor: deque + condition ] --get()--> consumer
    driver ---------qsize()---->            (one process)

Same API as Ray's ``ray.util.queue.Queue``; ``Empty`` and ``Full`` are the
standard library's ``queue.Empty`` / ``queue.Full`` underneath, so
``except queue.Empty`` works too.

Lesson: lessons/08_patterns.ipynb (pipelines and back-pressure).
"""

from __future__ import annotations

import asyncio
import collections
import numbers
import queue as _stdlib_queue
import threading

from .. import api


class Empty(_stdlib_queue.Empty):
    """Raised by ``get`` when the queue stays empty (no item within the timeout)."""


class Full(_stdlib_queue.Full):
    """Raised by ``put`` when the queue stays full (no room within the timeout)."""


# How many calls the queue's actor serves at once: blocked gets and puts each hold one.
_MAX_CONCURRENCY = 1000


class _QueueActor:
    """The state behind a Queue: a deque guarded by one condition variable."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self.items: collections.deque = collections.deque()
        self.changed = threading.Condition()

    def _has_room(self, n: int = 1) -> bool:
        return self.maxsize <= 0 or len(self.items) + n <= self.maxsize

    def qsize(self) -> int:
        return len(self.items)

    def put(self, item, timeout=None) -> bool:
        """Add one item, waiting up to ``timeout`` s for room; False if there was none."""
        with self.changed:
            if not self.changed.wait_for(self._has_room, timeout):
                return False
            self.items.append(item)
            self.changed.notify_all()
            return True

    def put_batch(self, items) -> bool:
        with self.changed:
            if not self._has_room(len(items)):
                return False
            self.items.extend(items)
            self.changed.notify_all()
            return True

    def get(self, timeout=None):
        """Take one item, waiting up to ``timeout`` s; ``(False, None)`` if none came."""
        with self.changed:
            if not self.changed.wait_for(lambda: self.items, timeout):
                return False, None
            item = self.items.popleft()
            self.changed.notify_all()
            return True, item

    def get_batch(self, n: int):
        with self.changed:
            if len(self.items) < n:
                return False, len(self.items)
            out = [self.items.popleft() for _ in range(n)]
            self.changed.notify_all()
            return True, out


def _check_timeout(block: bool, timeout) -> None:
    if not isinstance(block, bool):
        raise TypeError(f"block must be True or False; got {block!r}")
    if timeout is not None:
        if not isinstance(timeout, numbers.Real) or isinstance(timeout, bool):
            raise TypeError(f"timeout must be a number of seconds or None; got {timeout!r}")
        if timeout < 0:
            raise ValueError(f"timeout must be 0 or more seconds, or None to wait forever; got {timeout}")


class Queue:
    """A FIFO queue shared by the driver, tasks and actors (Ray's ``ray.util.queue.Queue``).

    Args:
        maxsize: how many items it holds at most; 0 (the default) means no limit.
        actor_options: options for the actor that holds the queue, as for
            ``.options()`` (e.g. ``{"name": "jobs"}``).

    Raises:
        TypeError: ``maxsize`` is not an int, or ``actor_options`` not a dict.

    Example:
        >>> import minirt as ray
        >>> from minirt.util.queue import Queue, Empty
        >>> _ = ray.init(num_cpus=2)
        >>> q = Queue(maxsize=2)
        >>> q.put("a"); q.put("b")
        >>> q.full(), q.qsize()
        (True, 2)
        >>> q.get(), q.get()
        ('a', 'b')
        >>> try:
        ...     q.get(timeout=0.1)
        ... except Empty:
        ...     print("empty")
        empty
        >>> ray.shutdown()
    """

    def __init__(self, maxsize: int = 0, actor_options: dict | None = None):
        if not isinstance(maxsize, numbers.Integral) or isinstance(maxsize, bool):
            raise TypeError(f"maxsize must be an int (0 for no limit); got {maxsize!r}")
        if actor_options is not None and not isinstance(actor_options, dict):
            raise TypeError(f"actor_options must be a dict of actor options; got {actor_options!r}")
        opts = {"num_cpus": 0, "max_concurrency": _MAX_CONCURRENCY, **(actor_options or {})}
        self.maxsize = int(maxsize)
        self._actor = api.remote(_QueueActor).options(**opts).remote(self.maxsize)

    @property
    def actor(self):
        """The handle of the actor that holds the items."""
        if self._actor is None:
            raise RuntimeError("this Queue was shut down; create a new Queue()")
        return self._actor

    def __len__(self) -> int:
        return self.size()

    def size(self) -> int:
        """How many items the queue holds now."""
        return api.get(self.actor.qsize.remote())

    qsize = size

    def empty(self) -> bool:
        """True if the queue holds no item now."""
        return self.size() == 0

    def full(self) -> bool:
        """True if the queue has a ``maxsize`` and holds that many items now."""
        return self.maxsize > 0 and self.size() >= self.maxsize

    def put(self, item, block: bool = True, timeout: float | None = None) -> None:
        """Add ``item`` at the end.

        Args:
            item: any value that can be pickled (ObjectRefs included).
            block: wait for room if the queue is full (False: raise ``Full`` at once).
            timeout: with ``block``, seconds to wait for room; None waits forever.

        Raises:
            Full: no room (at once, or after ``timeout`` seconds).
        """
        _check_timeout(block, timeout)
        if not api.get(self.actor.put.remote(item, timeout if block else 0)):
            raise Full("the queue is full" if not block else
                       f"the queue stayed full for {timeout} s")

    def get(self, block: bool = True, timeout: float | None = None):
        """Remove and return the first item.

        Args:
            block: wait for an item if the queue is empty (False: raise ``Empty`` at once).
            timeout: with ``block``, seconds to wait; None waits forever.

        Raises:
            Empty: no item (at once, or after ``timeout`` seconds).
        """
        _check_timeout(block, timeout)
        ok, item = api.get(self.actor.get.remote(timeout if block else 0))
        if not ok:
            raise Empty("the queue is empty" if not block else
                        f"no item arrived within {timeout} s")
        return item

    def put_nowait(self, item) -> None:
        """``put(item, block=False)``."""
        self.put(item, block=False)

    def get_nowait(self):
        """``get(block=False)``."""
        return self.get(block=False)

    def put_nowait_batch(self, items) -> None:
        """Add every item of ``items`` at once, or none of them.

        Raises:
            TypeError: ``items`` is not iterable.
            Full: there is no room for all of them.
        """
        try:
            items = list(items)
        except TypeError:
            raise TypeError(f"put_nowait_batch takes an iterable of items; got {items!r}") from None
        if not api.get(self.actor.put_batch.remote(items)):
            raise Full(f"no room for {len(items)} more items (maxsize={self.maxsize})")

    def get_nowait_batch(self, num_items: int) -> list:
        """Remove and return the first ``num_items`` items, or none if there are fewer.

        Raises:
            TypeError: ``num_items`` is not an int.
            ValueError: ``num_items`` is negative.
            Empty: the queue holds fewer than ``num_items`` items.
        """
        if not isinstance(num_items, numbers.Integral) or isinstance(num_items, bool):
            raise TypeError(f"num_items must be an int; got {num_items!r}")
        if num_items < 0:
            raise ValueError(f"num_items must be 0 or more; got {num_items}")
        ok, out = api.get(self.actor.get_batch.remote(int(num_items)))
        if not ok:
            raise Empty(f"asked for {num_items} items but the queue holds {out}")
        return out

    async def put_async(self, item, block: bool = True, timeout: float | None = None) -> None:
        """``put`` for asyncio code: awaits instead of blocking the event loop."""
        await asyncio.get_running_loop().run_in_executor(None, self.put, item, block, timeout)

    async def get_async(self, block: bool = True, timeout: float | None = None):
        """``get`` for asyncio code: awaits instead of blocking the event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, self.get, block, timeout)

    def shutdown(self, force: bool = False, grace_period_s: int = 5) -> None:
        """Stop the queue's actor; its items are gone. Calls after this fail.

        ``force`` and ``grace_period_s`` are accepted for Ray compatibility: the
        actor is always stopped at once.
        """
        if self._actor is not None:
            api.kill(self._actor)
            self._actor = None
