"""``Pool``: the standard library's ``multiprocessing.Pool`` interface, on actors.

Code written for ``multiprocessing.Pool`` runs on minirt by changing the
import. Each pool process is an actor; work is cut into chunks and each
chunk is one actor call::

    pool.map(f, items) --chunks--> actor 0: [f(x) for x in chunk 0]
                                   actor 1: [f(x) for x in chunk 1] --> results in order

Lesson: lessons/06_actors_revisited.ipynb.
"""

from __future__ import annotations

import itertools

from .. import api
from ..exceptions import GetTimeoutError


class _PoolActor:
    def __init__(self, initializer, initargs):
        if initializer is not None:
            initializer(*initargs)

    def run(self, func, chunk, star):
        return [func(*x) if star else func(x) for x in chunk]


class AsyncResult:
    """What ``apply_async``/``map_async`` return, as in the standard library."""

    def __init__(self, refs, unpack, callback=None, error_callback=None):
        self._refs, self._unpack = refs, unpack
        self._callback, self._error_callback = callback, error_callback
        self._done = False
        self._value = self._error = None

    def ready(self) -> bool:
        if self._done:
            return True
        ready, _ = api.wait(self._refs, num_returns=len(self._refs), timeout=0)
        return len(ready) == len(self._refs)

    def wait(self, timeout=None) -> None:
        api.wait(self._refs, num_returns=len(self._refs), timeout=timeout)

    def successful(self) -> bool:
        if not self.ready():
            raise ValueError("the result is not ready yet")
        self._settle(None)
        return self._error is None

    def _settle(self, timeout) -> None:
        if self._done:
            return
        try:
            self._value = self._unpack(api.get(self._refs, timeout=timeout))
        except GetTimeoutError:
            raise
        except Exception as e:
            self._error = e
        self._done = True
        if self._error is None and self._callback:
            self._callback(self._value)
        if self._error is not None and self._error_callback:
            self._error_callback(self._error)

    def get(self, timeout=None):
        """The result; raises the task's error, or ``multiprocessing.TimeoutError``."""
        import multiprocessing
        try:
            self._settle(timeout)
        except GetTimeoutError:
            raise multiprocessing.TimeoutError(f"result not ready after {timeout} s") from None
        if self._error is not None:
            raise self._error
        return self._value


class Pool:
    """A pool of actor processes with the ``multiprocessing.Pool`` methods.

    Args:
        processes: how many actors (default: the cluster's CPU count).
        initializer, initargs: called once in each actor, as in the standard library.

    Example:
        >>> from minirt.util.multiprocessing import Pool
        >>> with Pool(2) as pool:
        ...     pool.map(abs, [-1, -2, 3])
        [1, 2, 3]
    """

    def __init__(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None):
        if processes is None:
            processes = max(1, int(api.cluster_resources().get("CPU", 1)))
        if isinstance(processes, bool) or not isinstance(processes, int):
            raise TypeError(f"processes must be an int; got {processes!r}")
        if processes < 1:
            raise ValueError("processes must be at least 1")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be callable")
        cls = api.remote(_PoolActor)
        self._actors = [cls.remote(initializer, tuple(initargs)) for _ in range(processes)]
        self._rr = itertools.cycle(range(processes))
        self._closed = False

    def _check(self) -> None:
        if self._closed:
            raise ValueError("Pool not running")

    def _chunks(self, iterable, chunksize):
        items = list(iterable)
        if chunksize is None:
            chunksize, extra = divmod(len(items), len(self._actors) * 4)
            chunksize += bool(extra)
        chunksize = max(1, chunksize)
        return [items[i:i + chunksize] for i in range(0, len(items), chunksize)]

    def _submit(self, func, chunks, star):
        return [self._actors[next(self._rr)].run.remote(func, c, star) for c in chunks]

    @staticmethod
    def _flatten(lists):
        return [x for part in lists for x in part]

    def map(self, func, iterable, chunksize=None):
        return self.map_async(func, iterable, chunksize).get()

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        self._check()
        refs = self._submit(func, self._chunks(iterable, chunksize), False)
        return AsyncResult(refs, self._flatten, callback, error_callback)

    def starmap(self, func, iterable, chunksize=None):
        return self.starmap_async(func, iterable, chunksize).get()

    def starmap_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        self._check()
        refs = self._submit(func, self._chunks(iterable, chunksize), True)
        return AsyncResult(refs, self._flatten, callback, error_callback)

    def imap(self, func, iterable, chunksize=1):
        self._check()
        for ref in self._submit(func, self._chunks(iterable, chunksize), False):
            yield from api.get(ref)

    def imap_unordered(self, func, iterable, chunksize=1):
        self._check()
        pending = self._submit(func, self._chunks(iterable, chunksize), False)
        while pending:
            ready, pending = api.wait(pending, num_returns=1)
            yield from api.get(ready[0])

    def apply(self, func, args=(), kwds=None):
        return self.apply_async(func, args, kwds).get()

    def apply_async(self, func, args=(), kwds=None, callback=None, error_callback=None):
        self._check()
        kwds = kwds or {}
        call = (lambda: func(*args, **kwds))
        ref = self._actors[next(self._rr)].run.remote(lambda c: c(), [call], False)
        return AsyncResult([ref], lambda v: v[0][0], callback, error_callback)

    def close(self) -> None:
        """Accept no more work; running work finishes."""
        self._closed = True

    def terminate(self) -> None:
        """Stop the actors now."""
        self._closed = True
        for a in self._actors:
            api.kill(a)
        self._actors = []

    def join(self) -> None:
        """Wait for submitted work (call close() or terminate() first)."""
        if not self._closed:
            raise ValueError("Pool is still running: call close() or terminate() first")
        if self._actors:
            api.get([a.run.remote(len, [[]], False) for a in self._actors])

    def __enter__(self):
        self._check()
        return self

    def __exit__(self, *exc):
        self.terminate()
