"""What tasks print, on the driver's side: formatted under the lock, written outside it.

Workers send their output as ``("log", prefix, text)`` messages
(``_worker_output.py``). The control thread adds each to a list under the
head's lock; at most ``LOG_DELAY`` later (or before a ``get`` returns, so
output comes before the result) it is formatted, each line prefixed with
``(task pid=...)``, and queued; the queue is written to ``sys.stdout``
*outside* the lock, by whichever thread comes next, in order::

    ("log", prefix, text) --add--> chunks --print_logs (lock)--> queue
                                                                   |
                            flush_logs (no lock: a slow stdout stalls nobody) --> stdout
"""

from __future__ import annotations

import collections
import re
import sys
import threading
import time

LOG_DELAY = 0.1            # task output is printed at most this long after it arrives


_LINE_END = re.compile(r"(\r\n|\r|\n)")


def format_logs(logs, open_prefix):
    """Prefix what tasks wrote; return (text to print, prefix of a line left open).

    ``logs`` holds ``(prefix, text)`` chunks as the workers sent them: whole
    lines, ``\r`` progress updates or a partial line. Every line, and every
    rewrite after a ``\r``, starts with ``(prefix) ``; a line left open by one
    task is ended before another task's output is printed.
    """
    out = []
    for prefix, text in logs:
        if open_prefix is not None and open_prefix != prefix:
            out.append("\n")
            open_prefix = None
        for piece in _LINE_END.split(text):
            if not piece:
                continue
            if piece in ("\n", "\r\n"):
                if open_prefix is None:
                    out.append(f"({prefix}) ")        # an empty line
                out.append(piece)
                open_prefix = None
            elif piece == "\r":
                out.append(piece)
                open_prefix = None
            else:
                if open_prefix is None:
                    out.append(f"({prefix}) ")
                out.append(piece)
                open_prefix = prefix
    return "".join(out), open_prefix


class TaskOutput:
    """The driver's queue of task output (see the module docstring)."""

    def __init__(self):
        self._logs: list = []          # (prefix, text) sent by workers, not printed yet
        self._logs_since = 0.0
        self._log_open = None          # prefix of a task line printed without its end yet
        self._out: collections.deque = collections.deque()   # text to write to stdout
        self._out_lock = threading.Lock()                     # one writer at a time, in order

    def add(self, prefix: str, text: str) -> None:
        """A worker's ``("log", ...)`` message (under the lock)."""
        if not self._logs:
            self._logs_since = time.time()
        self._logs.append((prefix, text))

    def due(self, timeout):
        """Queue the output that waited ``LOG_DELAY``; return the control loop's next
        timeout (``timeout``, or sooner if output is waiting)."""
        if self._logs:
            late = time.time() - self._logs_since
            if late >= LOG_DELAY:
                self.print_logs()
            else:
                timeout = LOG_DELAY - late if timeout is None else min(timeout, LOG_DELAY - late)
        return timeout

    def print_logs(self) -> None:
        """Queue what tasks printed for :meth:`_flush_logs` (under the lock; no I/O here)."""
        if not self._logs:
            return
        logs, self._logs = self._logs, []
        text, self._log_open = format_logs(logs, self._log_open)
        self._out.append(text)

    def flush_logs(self, block: bool = True) -> None:
        """Write the queued output to stdout, in order; never under the head's lock
        (a slow stdout must not stall every call). ``block``: also wait for text
        another thread has taken and is writing, so what follows comes after it."""
        if not block and not self._out or not self._out_lock.acquire(block):
            return
        try:
            out = sys.stdout
            while self._out:
                try:
                    out.write(self._out.popleft())
                    out.flush()
                except Exception:
                    pass
        finally:
            self._out_lock.release()
