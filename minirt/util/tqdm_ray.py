"""Progress bars inside tasks and actors, drawn once in the driver (Ray's ``tqdm_ray``).

A plain ``tqdm`` bar inside a task writes to the worker's stderr, which minirt
forwards line by line: with several workers the bars interleave into noise.
This ``tqdm`` has the same API as ``ray.experimental.tqdm_ray.tqdm`` but draws
nothing where it runs. It sends small state updates (count, total,
description) to the driver as a message of its own, at most once every
``flush_interval_s`` seconds plus once when closed; the driver keeps one real
``tqdm.auto`` bar per remote bar (a widget in Jupyter, text elsewhere)::

    worker: bar.update(1) --("bar", state)--> head control thread --> deque
                                               driver's bar thread --> tqdm bars

Used in the driver itself it updates its bar directly.

Example:
    >>> import time
    >>> from minirt.experimental.tqdm_ray import tqdm
    >>> @minirt.remote
    ... def work(i):
    ...     for _ in tqdm(range(20), desc=f"task {i}"):
    ...         time.sleep(0.01)
    ...     return i
    >>> minirt.get([work.remote(i) for i in range(3)])   # three bars, drawn by the driver
    [0, 1, 2]

Lesson: lessons/08_patterns.ipynb (seeing progress inside tasks).
"""

from __future__ import annotations

import collections
import os
import threading
import time
import uuid
from typing import NamedTuple

from .. import _context, _protocol

__all__ = ["tqdm"]


class _BarState(NamedTuple):
    """One update of a remote bar, as it travels to the driver."""
    uuid: str
    pid: int
    desc: str
    n: int
    total: int | None
    unit: str
    position: int
    closed: bool


class tqdm:  # noqa: N801  (Ray's name)
    """A progress bar usable inside tasks and actors; drawn by the driver.

    Args:
        iterable: iterate over it, counting one step per item.
        desc: text in front of the bar.
        total: the number of steps (default ``len(iterable)`` when it has one).
        unit: what a step is called (default ``"it"``).
        position: accepted for Ray compatibility (the driver orders bars itself).
        flush_interval_s: send updates at most this often (default 0.2 s).

    Raises:
        TypeError: a bad argument type.
        ValueError: a negative ``total`` or ``flush_interval_s``.
    """

    DEFAULT_FLUSH_INTERVAL_SECONDS = 0.2

    def __init__(self, iterable=None, desc: str | None = None, total: int | None = None,
                 unit: str | None = None, position: int | None = None,
                 flush_interval_s: float | None = None):
        if desc is not None and not isinstance(desc, str):
            raise TypeError(f"desc must be a string; got {desc!r}")
        if total is not None:
            if isinstance(total, bool) or not isinstance(total, (int, float)):
                raise TypeError(f"total must be a number of steps; got {total!r}")
            if total < 0:
                raise ValueError(f"total must be 0 or more; got {total}")
        if flush_interval_s is not None:
            if isinstance(flush_interval_s, bool) or not isinstance(flush_interval_s, (int, float)):
                raise TypeError(f"flush_interval_s must be a number of seconds; got {flush_interval_s!r}")
            if flush_interval_s < 0:
                raise ValueError(f"flush_interval_s must be 0 or more; got {flush_interval_s}")
        if total is None and iterable is not None:
            try:
                total = len(iterable)
            except (TypeError, AttributeError):
                total = None
        self._iterable = iterable
        self._desc = desc or ""
        self._total = total
        self._unit = unit or "it"
        self._pos = position or 0
        self._uuid = uuid.uuid4().hex
        self._x = 0
        self._closed = False
        self._flush_interval_s = (self.DEFAULT_FLUSH_INTERVAL_SECONDS if flush_interval_s is None
                                  else float(flush_interval_s))
        self._last_flush = 0.0
        self._send(force=True)            # the driver shows the bar at once

    # --- tqdm's API ------------------------------------------------------------
    def update(self, n: int = 1) -> None:
        """Advance by ``n`` steps."""
        self._x += n
        self._send()

    def set_description(self, desc: str) -> None:
        """Change the text in front of the bar."""
        self._desc = desc
        self._send()

    def refresh(self) -> None:
        """Send the current state now."""
        self._send(force=True)

    def close(self) -> None:
        """Finish the bar (sends the final count)."""
        if not self._closed:
            self._closed = True
            self._send(force=True)

    @property
    def total(self):
        return self._total

    @total.setter
    def total(self, total) -> None:
        self._total = total

    @property
    def n(self) -> int:
        return self._x

    @n.setter
    def n(self, n: int) -> None:
        self._x = n

    def __iter__(self):
        if self._iterable is None:
            raise ValueError("No iterable provided: pass one, e.g. tqdm(range(10)), "
                             "or call update() yourself")
        for x in self._iterable:
            yield x
            self.update(1)
        self.close()

    def __enter__(self) -> "tqdm":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<tqdm_ray {self._desc!r} {self._x}/{self._total}>"

    # --- sending -----------------------------------------------------------------
    def _state(self) -> _BarState:
        return _BarState(self._uuid, os.getpid(), self._desc, self._x, self._total,
                         self._unit, self._pos, self._closed)

    def _send(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_flush < self._flush_interval_s:
            return
        self._last_flush = now
        core = _context.peek()
        if core is None or core.is_driver:
            _manager().feed(self._state())
            return
        try:
            core.send(("bar", None, tuple(self._state())))
        except OSError:            # the driver is gone; the worker exits soon
            pass


class _Manager:
    """Driver side: one real tqdm bar per remote bar, drawn by a thread of its own.

    ``feed`` is called by the head's control thread (under the head's lock), so it
    only appends to a deque; drawing happens in the ``minirt-bars`` thread.
    """

    def __init__(self) -> None:
        self._pending: collections.deque = collections.deque()
        self._wake = threading.Event()
        self._bars: dict[str, object] = {}
        self.finished: collections.deque = collections.deque(maxlen=100)  # last closed states
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def feed(self, state) -> None:
        self._pending.append(_BarState(*state))
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="minirt-bars",
                                                    daemon=True)
                    self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            self.drain()

    def drain(self) -> None:
        """Apply every pending update (also callable directly, e.g. by tests)."""
        with self._lock:
            latest: dict[str, _BarState] = {}
            while self._pending:
                s = self._pending.popleft()
                latest[s.uuid] = s        # only the newest state of each bar matters
            for s in latest.values():
                try:
                    self._apply(s)
                except Exception:         # a drawing problem must not stop the thread
                    pass

    def _apply(self, s: _BarState) -> None:
        bar = self._bars.get(s.uuid)
        if bar is None:
            if s.closed and s.n == 0 and not s.total:
                return
            from tqdm.auto import tqdm as real_tqdm
            bar = self._bars[s.uuid] = real_tqdm(desc=s.desc, total=s.total, unit=s.unit)
        if bar.total != s.total:
            bar.total = s.total
        if s.desc and bar.desc != s.desc and bar.desc.rstrip(": ") != s.desc:
            bar.set_description(s.desc, refresh=False)
        if s.n != bar.n:
            bar.update(s.n - bar.n)
        else:
            bar.refresh()
        if s.closed:
            bar.close()
            del self._bars[s.uuid]
            self.finished.append(s)

    def bars(self) -> dict:
        """uuid -> the driver's tqdm bar, for bars still open."""
        with self._lock:
            return dict(self._bars)


_the_manager: _Manager | None = None
_manager_lock = threading.Lock()


def _manager() -> _Manager:
    global _the_manager
    if _the_manager is None:
        with _manager_lock:
            if _the_manager is None:
                _the_manager = _Manager()
    return _the_manager


def _on_message(state) -> None:
    """Hook for the head's control thread: a ("bar", state) message arrived."""
    _manager().feed(state)


_protocol.ADDON_MESSAGES["bar"] = _on_message
