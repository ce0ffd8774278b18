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

Both call back into the worker for the actual work, so the two share its
error handling, result storing and "done" message.
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


class ThreadRunner:
    """Calls on a pool of threads: ``run(msg)`` is the worker's blocking call runner."""

    def __init__(self, limit: int, run):
        self._pool = ThreadPoolExecutor(limit, thread_name_prefix="minirt-actor")
        self._run = run

    def submit(self, msg) -> None:
        self._pool.submit(self._run, msg)


class AsyncRunner:
    """Calls as coroutines on one event loop; ``run(msg)`` is the worker's ``async`` runner."""

    def __init__(self, limit: int, run):
        self._run = run
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
        asyncio.run_coroutine_threadsafe(self._limited(msg), self.loop)

    async def _limited(self, msg) -> None:
        async with self._slots:
            await self._run(msg)
