r"""A worker's output: what user code prints goes to the driver, and to the log files.

In a worker ``sys.stdout`` and ``sys.stderr`` are :class:`Forward` streams.
Each whole line is sent to the head at once (a ``("log", ...)`` message,
printed by the driver with a ``(task pid=...)`` prefix, see ``_control.py``);
a line without its end yet (progress dots, ``\r`` updates) waits at most
``PARTIAL_DELAY`` for the flusher thread::

    print() --> Forward.write --whole lines--> ("log", prefix, text) --> head --> driver
                     |      \--partial line--> flusher thread (after PARTIAL_DELAY)
                     v
               the session's worker-<id>.out/.err (everything, at once: crash-safe)
"""

from __future__ import annotations

import io
import sys
import threading
import time

from ._worker_signals import deferred_cancel

PARTIAL_DELAY = 0.1             # seconds before a partial line of output is sent


class _TextSink(io.TextIOBase):
    """What the worker's two text streams share: a name, UTF-8, and ``write`` of str only."""

    def __init__(self, name: str):
        super().__init__()
        self._name = name

    @property
    def name(self) -> str:
        return f"<{self._name}>"

    @property
    def encoding(self) -> str:
        return "utf-8"

    @property
    def errors(self) -> str:
        return "strict"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, s) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        return self._write(s)

    def _write(self, s: str) -> int:
        raise NotImplementedError


class FileStream(_TextSink):
    """``sys.stdout``/``sys.stderr`` of a worker whose output is not sent to the driver:
    each write goes straight to its log file (a ``_logs.LogFile``; nothing buffered is
    lost in a crash)."""

    def __init__(self, log, name: str):
        super().__init__(name)
        self._log = log

    def fileno(self) -> int:
        return self._log.fd

    def _write(self, s: str) -> int:
        with deferred_cancel():         # a cancel does not cut the text in two
            self._log.write(s)
        return len(s)

    def flush(self) -> None:
        self._log.flush()


class Forward(_TextSink):
    """``sys.stdout``/``sys.stderr`` of a worker: text sent to the driver.

    Text up to the last line end (``\n`` or ``\r``) of a write goes at once;
    the rest of a line waits in a list (so many small writes cost linear
    time) until a line end, a flush, or ``PARTIAL_DELAY`` seconds (the
    flusher thread). It behaves as a text stream that is not a file:
    ``fileno()`` raises ``io.UnsupportedOperation``, and after ``close()``
    writes raise ``ValueError`` (the worker gives the next task a fresh one).
    """

    def __init__(self, core, name: str, tee=None):
        super().__init__(name)
        self._core = core
        self._tee = tee                 # the session's log file (a _logs.LogFile), if any
        self._parts: list[str] = []
        self._waiting = False           # a partial line is waiting for the flusher
        self._open = False              # the last text sent did not end its line
        self._lock = threading.Lock()

    def _write(self, s: str) -> int:
        if not s:
            return 0
        with deferred_cancel(), self._lock:   # never leave the lock held or a write cut
            if self._tee is not None:   # the log file gets it all, at once (crash-safe)
                self._tee.write(s)
            cut = max(s.rfind("\n"), s.rfind("\r")) + 1
            if cut:
                self._parts.append(s[:cut])
                self._send_locked()
                if cut < len(s):
                    self._parts.append(s[cut:])
            else:
                self._parts.append(s)
            if self._parts and not self._waiting:
                self._waiting = True
                flusher.wake()
        return len(s)

    def _send_locked(self) -> None:
        text = "".join(self._parts)
        self._parts = []
        self._waiting = False
        if text:
            self._open = not text.endswith("\n")
            self._core.send(("log", None, self._core.log_prefix(), text))

    def flush(self) -> None:
        if self.closed:
            return
        if self._tee is not None:
            self._tee.flush()
        with deferred_cancel(), self._lock:
            if self._parts:
                self._send_locked()

    def end_task(self) -> None:
        """Send what is left, ending an open line: the next task starts a new one."""
        if self._tee is not None:
            self._tee.flush()
        if self.closed or not (self._parts or self._open):
            return
        with deferred_cancel(), self._lock:
            if self._parts[-1:] and not self._parts[-1].endswith("\n") or \
                    not self._parts and self._open:
                self._parts.append("\n")
            if self._parts:
                self._send_locked()


class Flusher:
    """Sends partial lines of output ``PARTIAL_DELAY`` after they were written."""

    def __init__(self):
        self._event = threading.Event()
        self._thread = None

    def wake(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="minirt-output", daemon=True)
            self._thread.start()
        self._event.set()

    def _run(self) -> None:
        while True:
            self._event.wait()
            time.sleep(PARTIAL_DELAY)
            self._event.clear()
            for s in (sys.stdout, sys.stderr):
                if isinstance(s, Forward):
                    try:
                        s.flush()
                    except Exception:    # noqa: BLE001 - output must never kill the worker
                        pass


flusher = Flusher()


def flush_streams() -> None:
    """After user code: send its output, and replace a stream it closed."""
    for name in ("stdout", "stderr"):
        s = getattr(sys, name)
        try:
            if isinstance(s, Forward):
                if s.closed:
                    setattr(sys, name, Forward(s._core, name, s._tee))
                else:
                    s.end_task()
            else:
                s.flush()
        except Exception:   # noqa: BLE001 - a user's replacement stream may do anything
            pass


log_files: tuple = ()      # this worker's .out and .err (_logs.LogFile), if any


def mark_logs(line: str) -> None:
    """Set the marker line (``:task_name:f``, as Ray's worker logs have) of the log files
    only: ``minirt logs --task f`` finds a task's output by it. Each file writes it
    before the task's first output to that file (no output, no marker: no system call)."""
    for f in log_files:
        f.mark(line)
