"""``breakpoint()`` inside a task or actor method: pdb in the worker, driven from the driver.

A worker's ``sys.breakpointhook`` (and ``pdb.set_trace``) starts a
:class:`RemotePdb` on the caller's frame: the real frames and values of the task. Its stdin and stdout are a
:class:`_Channel` over the worker's existing pipe to the head (nothing listens
on the network). Each time pdb wants a line it sends everything it printed
and its prompt as a ``"debug"`` request, and waits for the reply::

    worker: breakpoint() -> RemotePdb --("req", "debug", sid, text, prompt)--> head
                                                        Sessions.on_read (control thread)
                                                        wakes the driver threads that wait
    driver: get()/wait()/attach() -> serve(): print text, input(prompt)
    worker: pdb runs the line <--("reply", line)----------------------------- head
    worker: c / q / task ends --("debug_end", sid, text)--> Sessions.on_end: the task runs on

Only a driver thread that is waiting anyway (``get``, ``wait``, progress
bars, :func:`minirt.util.debug.attach`) serves a session, in that thread:
``input()`` is the terminal in a script and the kernel's input box in a
notebook. Several paused workers are served one after another. EOF on the
driver's stdin continues the task, and so does a driver that cannot read
input at all (a notebook run by nbconvert: ``StdinNotImplementedError``).
Interrupting the driver while it waits for a line leaves the task paused: its
session opens again at the next ``get``/``wait``. ``q`` ends the session and
lets the task go on (breakpoints cleared), like ``c``; it never fails the task.

Functions defined in notebook cells have no source file the worker can read:
their source travels with their pickled code into the worker's ``linecache``
(see ``_serial.py``), under the cell's name (``Cell In[3]``), so ``l``, ``ll``
and ``b`` work on them.

``cancel()`` of a paused task ends its session and raises in the task as
usual. ``PYTHONBREAKPOINT=0`` disables the hook, and another value hands over
to that debugger, as Python's default hook does. If the driver goes away while a
worker is paused, the worker's pipe closes and it exits as it always does.
The lesson "Debugging distributed code" shows it in use.
"""

from __future__ import annotations

import builtins
import fnmatch
import linecache
import os
import pdb
import sys
import threading

_core = None                    # the WorkerCore, in a worker (see install)
_unblocked = None               # context manager: a cancel waits until the line arrives
_local = threading.local()      # .pdb: the RemotePdb of this thread's task, if any
# Modules pdb never stops in: the runtime around the task (and asyncio, for async actors).
_RUNTIME = ("minirt", "minirt.*", "asyncio", "asyncio.*", "concurrent.futures*", "threading")


# --- worker side ---------------------------------------------------------------------------
def install(core, unblocked) -> None:
    """Make ``breakpoint()`` in this worker open a session in the driver.

    ``unblocked()`` is the worker's guard around a blocking request: a cancel
    arriving meanwhile is raised once the request returns (or stops waiting).
    """
    global _core, _unblocked
    _core, _unblocked = core, unblocked
    sys.breakpointhook = _breakpointhook
    pdb.set_trace = _set_trace          # import pdb; pdb.set_trace() in a task works too


def _breakpointhook(*args, **kws):
    hook = os.environ.get("PYTHONBREAKPOINT")
    if hook == "0":
        return None                                   # disabled, as with the default hook
    if hook and hook not in ("pdb.set_trace", "pdb"):
        return sys.__breakpointhook__(*args, **kws)   # the user's own choice of debugger
    _start(sys._getframe(1))
    return None


def _set_trace(*, header=None):
    """``pdb.set_trace()`` in a worker: the same session as ``breakpoint()``."""
    _start(sys._getframe(1), header)


def _start(frame, header=None) -> None:
    root = _task_root(frame)             # where, up/down: the task's frames, not the runtime's
    dbg = RemotePdb(_Channel(_core, _label(_core, root)))
    if header is not None:
        dbg.message(header)
    _local.pdb = dbg
    dbg.set_trace(frame)                 # (from here on every call is traced: no more calls)
    dbg.botframe = root


def _task_root(frame):
    """The outermost frame of user code: the one the runtime (or asyncio) called."""
    root = frame
    while frame is not None:
        if _is_runtime(frame):
            break
        root, frame = frame, frame.f_back
    return root


def _is_runtime(frame) -> bool:
    name = frame.f_globals.get("__name__") or ""
    return any(fnmatch.fnmatch(name, pat) for pat in _RUNTIME)


def _label(core, root) -> str:
    """``worker-3 pid 1234 task f``: names the prompt and the event log's entries."""
    spec = core.current_task if threading.current_thread() is threading.main_thread() else None
    if spec is not None:
        name = spec.name
    elif core.actor_name:              # a call run by an actor's threads or event loop
        name = f"{core.actor_name}.{root.f_code.co_name}"
    else:
        name = root.f_code.co_name
    return f"{core.worker_name} pid {os.getpid()} task {name}"


def leave_user_code() -> None:
    """The task (or actor call) this thread ran is over: end its session, if any."""
    dbg = getattr(_local, "pdb", None)
    if dbg is None:
        return
    _local.pdb = None
    sys.settrace(None)
    dbg.chan.end()


class _Channel:
    """pdb's stdin and stdout: output is kept until pdb reads a line, then sent with it."""

    def __init__(self, core, label: str):
        self.core = core
        self.sid = threading.get_ident()
        self.label = label
        self.prompt = f"(Pdb {label}) "
        self.open = False          # the head thinks this session is paused or stepping
        self.cancelled = False     # the task was cancelled while paused
        self._buf: list[str] = []

    encoding = "utf-8"

    def write(self, s) -> int:
        self._buf.append(s)
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def _take(self) -> str:
        text = "".join(self._buf)
        self._buf.clear()
        return text

    def readline(self) -> str:
        text = self._take()
        if text.endswith(self.prompt):
            text = text[:-len(self.prompt)]
        self.open = True
        try:
            with _unblocked():
                line = self.core.request("debug", self.sid, self.label, text, self.prompt)
        except KeyboardInterrupt:               # cancel(): quit, then raise it in the task
            self.cancelled = True
            return "q\n"
        if line is None:                       # EOF on the driver's stdin
            return ""
        return line.rstrip("\r\n") + "\n"

    def end(self) -> None:
        text = self._take()
        if self.open or text:
            self.open = False
            self.core.send(("debug_end", None, self.sid, text))


class RemotePdb(pdb.Pdb):
    """pdb over a :class:`_Channel`; never stops inside minirt's own code."""

    def __init__(self, chan: _Channel):
        super().__init__(stdin=chan, stdout=chan, skip=_RUNTIME,
                         nosigint=True, readrc=False)
        self.chan = chan
        self.prompt = chan.prompt

    def canonic(self, filename):
        # A notebook cell's code is named "Cell In[3]" and its lines are in linecache
        # (see _serial): keep that name, so that l, ll and b find them.
        if filename in linecache.cache and not os.path.exists(filename):
            return filename
        return super().canonic(filename)

    def interaction(self, frame, traceback):
        super().interaction(frame, traceback)
        if self.chan.cancelled:     # raised from the trace function: lands in the task's frame
            raise KeyboardInterrupt("task cancelled")

    def set_continue(self):
        super().set_continue()
        self.chan.end()

    def do_quit(self, arg):
        """q(uit)
        End the debugging session: breakpoints are cleared and the task goes on
        (it is not failed). Same as ``exit``.
        """
        self.clear_all_breaks()
        if self.chan.cancelled:
            self.message("minirt: the task was cancelled; the session ends")
        self.set_continue()
        return 1

    do_q = do_exit = do_quit

    def do_EOF(self, arg):
        """EOF: the driver has no more input; the task goes on."""
        self.message("")
        return self.do_quit(arg)

    def do_run(self, arg):
        """run/restart: not available in a task (it cannot be restarted from here)."""
        self.error("run/restart is not available inside a task; use c to continue")

    do_restart = do_run

    def do_interact(self, arg):
        """interact: not available inside a task (its input is the driver's)."""
        self.error("interact is not available inside a task; use p, pp or ! statements")


# --- head side (the driver process) ---------------------------------------------------------
class _Read:
    """A paused session: pdb printed ``text`` and waits for a line after ``prompt``."""

    __slots__ = ("wid", "pid", "label", "text", "prompt", "reply")

    def __init__(self, wid, pid, label, text, prompt, reply):
        self.wid, self.pid, self.label = wid, pid, label
        self.text, self.prompt, self.reply = text, prompt, reply


class Sessions:
    """The head's debugger sessions; every method runs under the head's lock.

    A session is keyed by (worker id, thread id in the worker). It is *open*
    from its first read until ``debug_end`` or the worker's death, and
    *pending* while a read waits for its answer.
    """

    def __init__(self, event):
        self._event = event
        self.open: dict = {}          # key -> label
        self.pending: dict = {}       # key -> _Read, in the order they paused
        self.output: list = []        # text to print before the next prompt
        self.waiters: set = set()     # events of driver threads able to serve
        self.changed = threading.Event()
        self.serving = threading.Lock()

    def paused_workers(self) -> dict:
        """Worker id -> threads paused in the debugger (for the state API and live view)."""
        out: dict = {}
        for wid, _ in self.open:
            out[wid] = out.get(wid, 0) + 1
        return out

    def on_read(self, w, sid, label, text, prompt, reply) -> None:
        key = (w.wid, sid)
        if key not in self.open:
            self.open[key] = label
            self._event("debug_paused", worker=w.wid, pid=w.pid, task=label.rsplit(" task ", 1)[-1])
        self.pending[key] = _Read(w.wid, w.pid, label, text, prompt, reply)
        self._wake()

    def on_end(self, w, sid, text) -> None:
        key = (w.wid, sid)
        self.pending.pop(key, None)
        if text:
            self.output.append(text)
        if self.open.pop(key, None) is not None:
            self._event("debug_resumed", worker=w.wid, pid=w.pid)
        self._wake()

    def worker_died(self, w) -> None:
        for key in [k for k in self.open if k[0] == w.wid]:
            self.pending.pop(key, None)
            self.output.append(f"minirt: {self.open.pop(key)} exited while paused "
                               "in the debugger\n")
        self._wake()

    def _wake(self) -> None:
        self.changed.set()
        for ev in self.waiters:
            ev.set()


def serve(head) -> int:
    """Serve every paused session, one after another, in this (driver) thread.

    Called outside the head's lock by a thread that waits anyway. Prints what
    pdb printed, reads a line with ``input()`` and sends it back; after a line
    it waits for the same worker's next prompt (``n`` may take a while) until
    that session ends, then takes the next paused one. Returns the number of
    sessions served (0 if another thread is serving or nothing is paused).
    """
    s = head.debug
    if not s.serving.acquire(blocking=False):
        return 0
    served, current = 0, None
    try:
        while True:
            with head._lock:
                s.changed.clear()
                out, s.output = s.output, []
                gone = head._closed or head._broken is not None
                if current is not None and current not in s.open:
                    current = None
                read = None
                if not gone:
                    key = current if current is not None else next(iter(s.pending), None)
                    read = s.pending.get(key) if key is not None else None
            head.control.flush_logs()         # what tasks printed, then pdb's output
            _write("".join(out))
            if gone or (read is None and current is None):
                return served
            if read is None:                  # the worker runs the last line: wait for it
                s.changed.wait(0.5)
                continue
            if current is None:
                _write(f"minirt: {read.label} is paused in the debugger\n")
                current = key
                served += 1
            _write(read.text)
            try:
                line = builtins.input(read.prompt)
            except EOFError:                  # no more input (a script's stdin): go on
                _write("\n")
                line = None
            except (NotImplementedError, OSError) as e:   # no stdin at all (nbconvert...)
                _write(f"\nminirt: cannot read input here ({type(e).__name__}: {e}); "
                       "the task goes on\n")
                line = None
            with head._lock:
                if s.pending.get(key) is read:
                    del s.pending[key]
                    read.reply(True, line)
    finally:
        s.serving.release()
        with head._lock:               # paused meanwhile: another waiting thread serves it
            if s.pending:
                s._wake()


def _write(text: str) -> None:
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()
