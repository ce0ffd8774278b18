"""How an actor runs calls side by side: a thread pool, or an asyncio event loop.

An actor with ``max_concurrency=1`` (the default) runs its calls one after
another on the worker's main thread. Otherwise the main thread only reads
the pipe and hands each call to one of these runners::

    "call" message --> ThreadRunner: a pool of max_concurrency threads
                   --> AsyncRunner: one event loop on a thread of its own; a
                       method defined with ``async def`` runs as a coroutine,
                       at most max_concurrency at once (default 1000, as Ray),
                       so while one awaits (``await ref``, ``asyncio.sleep``)
                       the others go on. A plain method blocks the loop.

Both call back into the worker for the actual work (``run(msg)``), so the two
share its error handling, result storing and "done" message. ``cancel(tid)``
follows Ray: a call that has not started never runs, a running ``async`` call
is cancelled at its next ``await``, a running plain call goes on; a call
stopped here is reported through ``cancelled(msg)``.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from concurrent.futures import ThreadPoolExecutor

ASYNC_DEFAULT_CONCURRENCY = 1000     # Ray's default for an actor with async methods


def is_async_class(cls) -> bool:
    """Whether any method of ``cls`` is a coroutine function (an *async actor*, in Ray's terms)."""
    return any(inspect.iscoroutinefunction(getattr(cls, name, None))
               for name in dir(cls) if not name.startswith("__"))


class _Runner:
    def __init__(self, run, cancelled):
        self._run, self._cancelled = run, cancelled
        self._futures: dict = {}          # tid -> (future, msg) of calls not finished

    def _track(self, msg, fut) -> None:
        tid = msg[2].tid
        self._futures[tid] = (fut, msg)
        fut.add_done_callback(lambda _f: self._futures.pop(tid, None))


class ThreadRunner(_Runner):
    """Calls on a pool of ``limit`` threads."""

    def __init__(self, limit: int, run, cancelled):
        super().__init__(run, cancelled)
        self._pool = ThreadPoolExecutor(limit, thread_name_prefix="minirt-actor")

    def submit(self, msg) -> None:
        self._track(msg, self._pool.submit(self._run, msg))

    def cancel(self, tid) -> None:
        fut, msg = self._futures.get(tid, (None, None))
        if fut is not None and fut.cancel():        # False once it runs: it goes on
            self._cancelled(msg)


class AsyncRunner(_Runner):
    """Calls as coroutines on one event loop, at most ``limit`` at once."""

    def __init__(self, limit: int, run, cancelled):
        super().__init__(run, cancelled)
        self.loop = asyncio.new_event_loop()
        self._slots = None
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            self._slots = asyncio.Semaphore(limit)
            ready.set()
            self.loop.run_forever()

        threading.Thread(target=serve, daemon=True, name="minirt-asyncio").start()
        ready.wait()

    def submit(self, msg) -> None:
        self._track(msg, asyncio.run_coroutine_threadsafe(self._limited(msg), self.loop))

    def cancel(self, tid) -> None:
        fut, _ = self._futures.get(tid, (None, None))
        if fut is not None:
            fut.cancel()                  # CancelledError inside the coroutine, on the loop

    async def _limited(self, msg) -> None:
        try:
            async with self._slots:
                await self._run(msg)
        except asyncio.CancelledError:
            self._cancelled(msg)
