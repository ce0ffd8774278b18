"""Session directories and their log files, which outlive the runtime (like Ray's).

Every ``init()`` makes a session directory that stays after ``shutdown()``,
a kernel restart or a killed driver, so what happened can be read afterwards
(``minirt logs``, or ``grep``)::

    <root>/                       $MINIRT_TMPDIR, else <tempdir>/minirt-logs  (0700)
      session_latest -> session_2026-12-06_23-10-00_123456_4242
      session_2026-12-06_23-10-00_123456_4242/                                (0700)
        session.json     pid, start time, namespace (for `minirt status --all`)
        session.lock     flock()ed while the runtime lives: "this session is live"
        admin.sock       the private control socket (_admin.py), gone at shutdown
        logs/
          head.log                    one line per worker start and exit: exit code
                                      or signal, why, and the task or actor it ran
          worker-<id>-<pid>.out/.err  everything the worker printed (its fds 1
                                      and 2 point here: C-level output too)
          worker-<id>-<pid>.stack     Python stacks dumped on request (`minirt stack`)

This is not ``Head.session_dir`` (a temporary directory that holds the spill
folder and is removed at shutdown): nothing here holds objects.

Bounds: the newest :data:`KEEP_SESSIONS` sessions are kept (live ones are
never removed); ``head.log`` and each worker file keep at most
:data:`LOG_FILE_MAX` bytes of what Python code writes, then one line saying
the rest was dropped (output written by C code straight to the descriptor is
not counted, nor the ``:task_name:`` marker lines, each written only before a
task's first Python output to that file, so C-only output of a task shows
under the previous marker). Writing happens outside the head's lock: the head queues
``head.log`` lines (:meth:`Session.log`) and the control thread writes them
after each turn (:meth:`Session.flush`).
"""

from __future__ import annotations

import collections
import datetime
import fcntl
import json
import os
import re
import shutil
import stat
import tempfile
import threading
import time

KEEP_SESSIONS = 10              # session directories kept (the newest; live ones always)
LOG_FILE_MAX = 4 * 2**20        # bytes of Python output kept per log file
_BUFFER = 4096                  # characters of a partial line held before writing
LATEST = "session_latest"
SOCKET = "admin.sock"


def root_dir() -> str:
    """Where sessions live: ``$MINIRT_TMPDIR`` or ``<tempdir>/minirt-logs``.

    Not ``<tempdir>/minirt`` (as Ray's ``/tmp/ray``): a folder named like the package
    in the temp dir would be imported instead of minirt by a script run from there.

    Example:
        >>> import os, tempfile
        >>> "MINIRT_TMPDIR" in os.environ or root_dir() == os.path.join(tempfile.gettempdir(),
        ...                                                              "minirt-logs")
        True
    """
    return os.environ.get("MINIRT_TMPDIR") or os.path.join(tempfile.gettempdir(), "minirt-logs")


_SESSION_NAME = re.compile(r"session_\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_\d{6}_\d+")


def sessions(root: str | None = None) -> list[str]:
    """Session directories under ``root``, newest first (only names :class:`Session`
    makes: not ``session_latest`` nor its ``.tmp`` link being replaced)."""
    root = root or root_dir()
    try:
        names = [n for n in os.listdir(root) if _SESSION_NAME.fullmatch(n)]
    except OSError:
        return []
    return [os.path.join(root, n) for n in sorted(names, reverse=True)]


def is_live(session: str) -> bool:
    """Does a runtime still hold ``session`` (its lock file is locked)?"""
    try:
        fd = os.open(os.path.join(session, "session.lock"), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


class LogFile:
    """Text appended to a descriptor, at most ``limit`` bytes, then one notice line.

    A write ending a line (or filling :data:`_BUFFER` bytes) goes out at once; a partial
    line waits for the rest, or :meth:`flush` (so a million one-character writes cost
    a few hundred system calls, not a million). :meth:`mark` sets a marker line
    (``:task_name:f``) written only before the next output, if any comes: a task that
    prints nothing costs nothing, and markers do not count toward ``limit``. After
    :meth:`close` writes are dropped. Thread-safe.
    """

    def __init__(self, fd: int, limit: int = LOG_FILE_MAX):
        self.fd = fd
        self.limit = limit
        self._parts: list[str] = []
        self._pending = 0
        self._marker: str | None = None     # written before the next output
        self._marker_bytes = 0              # bytes of marker at the start of _parts
        self._line_start = True             # the last byte written ended a line
        self._lock = threading.Lock()
        try:
            self.written = os.fstat(fd).st_size
        except OSError:
            self.written = 0

    def mark(self, line: str) -> None:
        """Write ``line`` (a marker, without its newline) before the next output."""
        with self._lock:
            if self._parts:             # (most tasks print nothing: no write then)
                self._flush_locked()
            self._marker = line

    def write(self, text: str) -> None:
        if self.written >= self.limit or not text:
            return
        with self._lock:
            if self._marker is not None:
                marker = ("" if self._line_start else "\n") + self._marker + "\n"
                self._marker = None
                self._parts.append(marker)
                self._marker_bytes = len(marker.encode("utf-8", "replace"))
            self._parts.append(text)
            self._pending += len(text)
            if "\n" in text or self._pending >= _BUFFER:
                self._flush_locked()

    def flush(self) -> None:
        if self._parts:
            with self._lock:
                self._flush_locked()

    def close(self) -> None:
        """Write what is held and close the descriptor; later writes are dropped."""
        with self._lock:
            self._flush_locked()
            fd, self.fd = self.fd, -1
            self.written = self.limit
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass

    def _flush_locked(self) -> None:
        data = "".join(self._parts).encode("utf-8", "replace")
        marker, data = data[:self._marker_bytes], data[self._marker_bytes:]
        self._parts, self._pending, self._marker_bytes = [], 0, 0
        if self.fd < 0 or self.written >= self.limit or not data:
            return
        if self.written + len(data) > self.limit:
            cut = max(0, self.limit - self.written)
            while 0 < cut < len(data) and data[cut] & 0xC0 == 0x80:
                cut -= 1                    # not in the middle of a character
            data = data[:cut] + (f"\n[minirt: this log reached {self.limit} bytes; later "
                                 "output is not saved]\n").encode()
            self.written = self.limit
        else:
            self.written += len(data)
        data = marker + data                # markers are not counted
        self._line_start = data.endswith(b"\n")
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except OSError:
            pass


def worker_files(logs_dir: str, wid: int, pid: int) -> tuple[str, str, str]:
    """Paths of a worker's ``.out``, ``.err`` and ``.stack`` files."""
    base = os.path.join(logs_dir, f"worker-{wid}-{pid}")
    return base + ".out", base + ".err", base + ".stack"


def open_worker_logs(logs_dir: str, wid: int) -> tuple[LogFile, LogFile, object]:
    """In a new worker: point fds 1 and 2 at its log files; return their writers and
    the open ``.stack`` file (for ``faulthandler``)."""
    out_path, err_path, stack_path = worker_files(logs_dir, wid, os.getpid())
    logs = []
    for path, target in ((out_path, 1), (err_path, 2)):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(fd, target)
        os.close(fd)
        logs.append(LogFile(target))
    stack = open(os.open(stack_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a",
                 encoding="utf-8")     # noqa: SIM115 - open as long as the worker lives
    return logs[0], logs[1], stack


def _stamp(t: float) -> str:
    return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


class Session:
    """One runtime's session directory (see the module docstring).

    Args:
        namespace: recorded in ``session.json``.
        root: the sessions' parent directory (default :func:`root_dir`).
    """

    def __init__(self, namespace: str, root: str | None = None):
        self.root = root or root_dir()
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        st = os.lstat(self.root)
        if stat.S_ISLNK(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
            raise PermissionError(f"{self.root} is not a directory of this user that only it "
                                  "can write to; set MINIRT_TMPDIR to one")
        now = time.time()
        stamp = datetime.datetime.fromtimestamp(now).strftime("%Y-%m-%d_%H-%M-%S_%f")
        self.path = os.path.join(self.root, f"session_{stamp}_{os.getpid()}")
        os.makedirs(os.path.join(self.path, "logs"), mode=0o700)
        os.chmod(self.path, 0o700)
        self.logs_dir = os.path.join(self.path, "logs")
        self.socket_path = os.path.join(self.path, SOCKET)
        self._lock_fd = os.open(os.path.join(self.path, "session.lock"),
                                os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        with open(os.open(os.path.join(self.path, "session.json"),
                          os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            json.dump({"pid": os.getpid(), "started_at": now, "namespace": namespace}, f)
        self._head_fd = os.open(os.path.join(self.logs_dir, "head.log"),
                                os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._head_log = LogFile(self._head_fd)
        self._lines: collections.deque = collections.deque()
        self._closed = False
        self._point_latest()
        self._prune()

    def _point_latest(self) -> None:
        link = os.path.join(self.root, LATEST)
        tmp = f"{link}.{os.getpid()}.tmp"
        try:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(os.path.basename(self.path), tmp)
            os.replace(tmp, link)
        except OSError:
            pass

    def _prune(self) -> None:
        for old in sessions(self.root)[KEEP_SESSIONS:]:
            if old != self.path and not is_live(old):
                shutil.rmtree(old, ignore_errors=True)

    def log(self, text: str) -> None:
        """Queue one ``head.log`` line (no I/O: callable under the head's lock)."""
        self._lines.append(f"{_stamp(time.time())} {text}\n")

    def flush(self) -> None:
        """Write the queued lines (never under the head's lock)."""
        while self._lines and not self._closed:
            try:
                line = self._lines.popleft()
            except IndexError:
                return
            self._head_log.write(line)

    def close(self) -> None:
        """Write what is queued and let go of the session (it stays on disk)."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._head_log.close()        # under its lock: a write still going on finishes first
        try:
            os.close(self._lock_fd)   # closing the lock file's fd releases the flock
        except OSError:
            pass
