"""The worker process: runs tasks and hosts actors.

A worker is forked from the forkserver (see ``_procs.py``) with one end of a
private pipe to the head. Its main thread loops: read a message, run it,
send the result back::

    head --("task", spec, fn, args, deps)--> worker: load args (zero-copy for
    head <--("done", tid, results, t0, t1)-- large ones), call fn, store result

While user code runs it may call the minirt API itself (nested tasks,
``get``/``wait``/``put``): those calls become requests to the head over the
same pipe (:class:`WorkerCore`). Whichever thread is waiting for a reply
reads the pipe on everyone's behalf ("leader/follower"); messages that are not
replies (an actor's next calls, say) are kept in a backlog for the main loop.

Cancelling a running task sends ``CANCEL_SIGNAL`` (SIGUSR1): the handler
raises ``KeyboardInterrupt`` only while user code runs, never in the middle
of reading or writing the pipe, so every message reaches the head whole. A
worker leads its own process group and ignores SIGINT: Kernel > Interrupt in
Jupyter (SIGINT to the kernel's group) stops the driver's blocked call, not
the tasks. What user code prints is forwarded to the driver (:class:`_Forward`),
each line prefixed with the task name and pid; a line without its end yet
(progress dots, ``\r`` updates) is sent after at most ``_PARTIAL_DELAY``.

The lesson "How the runtime works" follows one task through this file.
"""

from __future__ import annotations

import asyncio
import collections
import faulthandler
import inspect
import io
import itertools
import os
import signal
import sys
import threading
import time

import cloudpickle  # noqa: F401  (preloaded by the forkserver)
import numpy  # noqa: F401  (preloaded: most lessons' tasks use it)

from . import (_actor_concurrency, _context, _debugger, _logs, _procs, _protocol, _refs, _serial,
               _store, _streaming)
from ._protocol import Result
from ._refs import ObjectRef
from ._serial import FILE, INLINE
from .exceptions import ObjectStoreFullError, TaskCancelledError, TaskError

CANCEL_SIGNAL = signal.SIGUSR1   # what the head sends to cancel a running task
STACK_SIGNAL = signal.SIGUSR2    # dump every thread's stack to worker-<id>-<pid>.stack
_PARTIAL_DELAY = 0.1             # seconds before a partial line of output is sent


class DepSlot:
    """Placeholder for the i-th top-level ObjectRef argument inside pickled args."""

    __slots__ = ("i",)

    def __init__(self, i: int):
        self.i = i

    def __reduce__(self):
        return (DepSlot, (self.i,))


def _load_args(args, deps):
    """Rebuild (args, kwargs), putting dependency values where their slots are."""
    values = [_serial.load(kind, data) for kind, data in deps]
    a, kw = _serial.load(args[0], args[1])
    a = [values[x.i] if type(x) is DepSlot else x for x in a]
    kw = {k: values[v.i] if type(v) is DepSlot else v for k, v in kw.items()}
    return a, kw


def _store_value(value, oid: bytes, shm_dir: str, spill_dir: str):
    """Serialize one return value: inline bytes if small, else a file in the node store."""
    s = _serial.serialize(value)
    if s.size < _serial.INLINE_MAX:
        return Result(oid, INLINE, _serial.to_inline(s), False, tuple(s.contained))
    size = _store.write_value(s, oid.hex(), shm_dir, spill_dir)
    return Result(oid, FILE, size, False, tuple(s.contained))


_retry_classes: dict[bytes, tuple] = {}


def _should_retry(spec, exc: BaseException) -> bool:
    """Does ``retry_exceptions`` ask to run this task again after ``exc``?

    Decided here, where the user's classes exist, never by the head. The
    classes travel pickled by value (see ``_options.retry_spec``), so a class
    defined in the driver's ``__main__`` or a notebook cell works too.
    """
    rex = spec.retry_exceptions
    if not rex or not isinstance(exc, Exception):
        return False
    if rex is True:
        return True
    classes = _retry_classes.get(rex)
    if classes is None:
        classes = _retry_classes[rex] = cloudpickle.loads(rex)
    cause = exc.cause if isinstance(exc, TaskError) else exc   # a nested task's error
    return isinstance(cause, classes)


def tag_error(err, spec):
    """Name the task (and actor) on a TaskError made for it; return ``err``.

    ``minirt.util.debug.rerun`` finds the failed task by this id. An upstream
    TaskError re-raised by a nested ``get`` keeps the id of the task that raised.
    """
    if isinstance(err, TaskError) and getattr(err, "task_id", None) is None:
        err.task_id = spec.tid.hex()
        err.actor_id = spec.actor_id.hex() if spec.kind == "call" and spec.actor_id else None
    return err


def _exit_on_sys_exit(spec, exc: SystemExit) -> None:
    """``sys.exit()`` in a task or actor method ends the worker process, as in Ray.

    The head sees a worker death: a task is retried (``max_retries``) and then
    raises ``WorkerCrashedError``; an actor restarts or is dead
    (``ActorDiedError``). ``get`` never raises a ``SystemExit``.
    """
    code = exc.code
    if code is None or isinstance(code, int):
        status = code or 0
    else:                                   # sys.exit("message"): printed, status 1
        print(code, file=sys.stderr)
        status = 1
    print(f"minirt: {spec.name} called sys.exit({code!r}): its worker process exits "
          f"with status {status}", file=sys.stderr)
    _flush_streams()
    os._exit(status)


class _Reply:
    __slots__ = ("event", "ok", "value")

    def __init__(self):
        self.event = threading.Event()
        self.ok = self.value = None


class _Forward(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` of a worker: text sent to the driver.

    Text up to the last line end (``\n`` or ``\r``) of a write goes at once;
    the rest of a line waits in a list (so many small writes cost linear
    time) until a line end, a flush, or ``_PARTIAL_DELAY`` seconds (the
    flusher thread). It behaves as a text stream that is not a file:
    ``fileno()`` raises ``io.UnsupportedOperation``, and after ``close()``
    writes raise ``ValueError`` (the worker gives the next task a fresh one).
    """

    def __init__(self, core: "WorkerCore", name: str, tee=None):
        super().__init__()
        self._core, self._name = core, name
        self._tee = tee                 # the session's log file (a _logs.LogFile), if any
        self._parts: list[str] = []
        self._waiting = False           # a partial line is waiting for the flusher
        self._open = False              # the last text sent did not end its line
        self._lock = threading.Lock()

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
        if not s:
            return 0
        if self._tee is not None:       # the log file gets it all, at once (crash-safe)
            self._tee.write(s)
        with _deferred_cancel(), self._lock:   # never leave the lock held
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
                _flusher.wake()
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
        with _deferred_cancel(), self._lock:
            if self._parts:
                self._send_locked()

    def end_task(self) -> None:
        """Send what is left, ending an open line: the next task starts a new one."""
        if self._tee is not None:
            self._tee.flush()
        if self.closed or not (self._parts or self._open):
            return
        with _deferred_cancel(), self._lock:
            if self._parts[-1:] and not self._parts[-1].endswith("\n") or \
                    not self._parts and self._open:
                self._parts.append("\n")
            if self._parts:
                self._send_locked()


class _Flusher:
    """Sends partial lines of output ``_PARTIAL_DELAY`` after they were written."""

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
            time.sleep(_PARTIAL_DELAY)
            self._event.clear()
            for s in (sys.stdout, sys.stderr):
                if isinstance(s, _Forward):
                    try:
                        s.flush()
                    except Exception:    # noqa: BLE001 - output must never kill the worker
                        pass


_flusher = _Flusher()


class WorkerCore:
    """The minirt API as seen from inside a worker: requests to the head
    (a :class:`~minirt._context.Core`)."""

    is_driver = False
    started_at = 0.0

    def __init__(self, conn, cfg: dict):
        self.conn = conn
        self.cfg = cfg
        self.shm_dir = cfg["shm_dir"]
        self.spill_dir = cfg["spill_dir"]
        self._send_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._replies: dict[int, _Reply] = {}
        self._req_ids = itertools.count(1)
        self.backlog: collections.deque = collections.deque()
        self._known_fns: set = set()
        self.fns: dict = {}
        self.current_task = None        # TaskSpec being run by the main thread
        self.actor = None               # the actor instance, in an actor's worker
        self.actor_id = None
        self.actor_name = None
        self.pool = None                # ThreadRunner or AsyncRunner: calls side by side
        self.cancelled: set = set()     # sent calls cancelled before they started (no pool)
        self.was_restarted = False
        self.namespace = cfg["namespace"]
        self.max_node = cfg["max_node"]
        self.node_id = cfg["node_id"]
        self.worker_name = f"worker-{cfg['wid']}"

    # --- sending and receiving -------------------------------------------
    def send(self, msg) -> None:
        """Send one message; a cancel arriving meanwhile waits until it is all sent."""
        if _in_user_code > 0:           # only then can a cancel raise (see _on_cancel)
            with _deferred_cancel():
                self._send(msg)
        else:
            self._send(msg)

    def _send(self, msg) -> None:
        with self._send_lock:
            changes = _refs.local_refs.take_changes()
            if changes:
                msg = (msg[0], changes) + msg[2:]
            try:
                self.conn.send(msg)
            except (BrokenPipeError, ConnectionResetError):
                _driver_gone()

    def _recv(self):
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            _driver_gone()

    def _dispatch(self, msg) -> None:
        if msg[0] == "reply":
            r = self._replies.pop(msg[2])
            r.ok, r.value = msg[3], msg[4]
            r.event.set()
        elif msg[0] == "call" and self.pool is not None:
            self.pool.submit(msg)
        elif msg[0] == "cancel_call":
            self.cancel_call(msg[2])
        else:
            self.backlog.append(msg)

    def request(self, op: str, *args):
        """Send a request to the head and wait for its reply (see module docstring)."""
        rid = next(self._req_ids)
        r = self._replies[rid] = _Reply()
        self.send(("req", None, rid, op, args))
        # A cancelled task blocked here must still get its KeyboardInterrupt, but
        # never in the middle of reading a message: poll, then check the flag.
        cancellable = threading.current_thread() is threading.main_thread()
        while not r.event.is_set():
            if cancellable and _pending_interrupt:
                raise KeyboardInterrupt("task cancelled")
            if self._read_lock.acquire(blocking=False):
                try:
                    while not r.event.is_set():
                        if cancellable and _pending_interrupt:
                            raise KeyboardInterrupt("task cancelled")
                        if self.conn.poll(0.05):
                            self._dispatch(self._recv())
                finally:
                    self._read_lock.release()
            else:
                r.event.wait(0.005)
        if not r.ok:
            raise r.value
        return r.value

    # --- the core interface used by api.py --------------------------------
    def register_fn(self, fn_id, data: bytes) -> None:
        if fn_id not in self._known_fns:
            self.send(("fn", None, fn_id, data))
            self._known_fns.add(fn_id)

    def submit(self, spec):
        if spec.kind == "actor":           # may fail (name taken): wait for the answer
            return self.request("create_actor", spec)
        self.send(("submit", None, spec))
        return None

    def put(self, oid, kind, data, contained) -> None:
        if kind == FILE:        # the store may be full: raise ObjectStoreFullError here
            self.request("put_file", oid, data, contained)
        else:
            self.send(("put", None, oid, kind, data, contained))

    def get(self, ids, timeout):
        with _unblocked_signals():
            return self.request("get", ids, timeout)

    def wait(self, ids, num_returns, timeout):
        with _unblocked_signals():
            return self.request("wait", ids, num_returns, timeout)

    def cancel(self, oid, force, recursive) -> None:
        self.send(("cancel", None, oid, force, recursive))

    def kill_actor(self, aid, no_restart) -> None:
        self.send(("kill", None, aid, no_restart))

    def exit_actor(self) -> None:
        if self.actor_id is None:
            raise TypeError("exit_actor() ends the actor that calls it, and this is a task, "
                            "not an actor method: return from the task instead")
        self.send(("exit_actor", None, self.actor_id))
        _flush_streams()
        os._exit(0)

    def is_canceled(self) -> bool:
        return _cancel_seen and self.current_task is not None

    def call(self, op, *args):
        """Any other question for the head (get_actor, resources, nodes, ...)."""
        return self.request(op, *args)

    def drain_refs(self) -> None:
        if _refs.local_refs.pending():
            self.send(("refs", None))

    def log_prefix(self) -> str:
        spec = self.current_task
        name = self.actor_name or (spec.name if spec is not None else "worker")
        return f"{name} pid={os.getpid()}"

    # --- running work -----------------------------------------------------
    def serve(self) -> None:
        while True:
            if self.backlog:
                msg = self.backlog.popleft()
            else:
                self.drain_refs()
                with self._read_lock:
                    msg = self._recv()
                if msg[0] in ("reply", "cancel_call") or (msg[0] == "call" and self.pool is not None):
                    self._dispatch(msg)
                    continue
            kind = msg[0]
            if kind == "task":
                self.run_task(msg)
            elif kind == "call":
                self.run_call(msg)
            elif kind == "actor":
                self.create_actor(msg)
            elif kind == "cancel_task":
                pass       # for a task that has ended (a cancel before one starts: take_cancel)
            elif kind == "exit":
                _flush_streams()
                self.drain_refs()
                return
            else:
                raise _protocol.ProtocolError(f"unknown message kind {kind!r} from the head")

    def _function(self, fn_id, fn_bytes):
        fn = self.fns.get(fn_id)
        if fn is None:
            fn = self.fns[fn_id] = cloudpickle.loads(fn_bytes)
        return fn

    def _execute(self, spec, fn, args, deps):
        """Run user code; return (results, t0, t1, retry, value) ready to send.

        ``retry`` says whether ``retry_exceptions`` covers the error raised.
        ``value`` is what the code returned: the caller keeps it alive until the
        results are sent, so that a ref made here and returned inside the value
        (``return [minirt.put(x)]``) is still held by this process when the head
        learns that the result holds it (its "dropped" must not arrive first).
        """
        t0 = time.time()
        try:
            a, kw = _load_args(args, deps)
            with _user_code(spec.tid if spec.kind == "task" else None):
                value = fn(*a, **kw)
        except BaseException as e:  # noqa: BLE001 - everything goes back to the caller
            return self._failed(spec, e, t0)
        return self._succeeded(spec, value, t0)

    def _succeeded(self, spec, value, t0):
        try:
            if spec.num_returns == "streaming":
                value = self._stream(spec, value)
            results = self._store(spec, value)
        except BaseException as e:  # noqa: BLE001 - e.g. a value that cannot be pickled
            return self._failed(spec, e, t0)
        _flush_streams()
        return results, t0, time.time(), False, value

    def _failed(self, spec, e: BaseException, t0):
        if isinstance(e, SystemExit):
            _exit_on_sys_exit(spec, e)
        err = tag_error(_serial.describe_exception(e, spec.name, os.getpid()), spec)
        retry = False
        try:
            retry = _should_retry(spec, e)
        except Exception as bad:  # noqa: BLE001 - classes that cannot be loaded here
            err = _serial.describe_exception(TypeError(
                f"retry_exceptions of {spec.name} could not be loaded in the worker: "
                f"{bad}"), spec.name, os.getpid())
        results = _serial.error_results(spec.returns, err)
        _flush_streams()
        return results, t0, time.time(), retry, None

    def _stream(self, spec, gen) -> list:
        """Store and announce each value ``gen`` yields; return the refs (see ``_streaming``).

        The refs are held here until the task's own result (their list) is
        sent, so no item is freed before the caller can hold it.
        """
        refs = []
        it = iter(gen)
        while True:
            oid = _streaming.item_id(spec.tid, len(refs))
            try:
                with _user_code():
                    item = next(it)
                result = _store_value(item, oid, self.shm_dir, self.spill_dir)
            except StopIteration:
                return refs
            except BaseException as e:  # noqa: BLE001 - the error becomes the last item
                if isinstance(e, SystemExit):
                    _exit_on_sys_exit(spec, e)
                err = tag_error(_serial.describe_exception(e, spec.name, os.getpid()), spec)
                result = _serial.error_results([oid], err)[0]
                it = iter(())
            refs.append(ObjectRef(oid))
            self.send(("yield", None, spec.tid, result))

    def _store(self, spec, value):
        if spec.num_returns in (1, "streaming"):
            values = [value]
        else:
            try:
                values = list(value)
            except TypeError:
                values = None
            if values is None or len(values) != spec.num_returns:
                n = "a non-sequence" if values is None else f"{len(values)} values"
                raise ValueError(f"{spec.name} was declared with num_returns={spec.num_returns} "
                                 f"but returned {n}")
        out = []
        for oid, v in zip(spec.returns, values):
            try:
                out.append(_store_value(v, oid, self.shm_dir, self.spill_dir))
            except Exception as e:
                if isinstance(e, ObjectStoreFullError):
                    raise
                for done in out:            # don't leave files nobody will register
                    if done.kind == FILE:
                        _serial.unlink(os.path.join(self.shm_dir, done.oid.hex()))
                raise TypeError(f"the return value of {spec.name} could not be serialized "
                                f"({type(v).__name__}): {e}") from e
        return out

    def run_task(self, msg) -> None:
        _, _, spec, fn_bytes, args, deps = msg
        _mark_logs(f":task_name:{spec.name}")
        fn = self._function(spec.fn_id, fn_bytes)
        self.current_task = spec
        results, t0, t1, retry, value = self._execute(spec, fn, args, deps)
        self.current_task = None
        self.send(("done", None, spec.tid, results, t0, t1, retry))
        del value                  # now its refs may be dropped (see _execute)

    def create_actor(self, msg) -> None:
        _, _, spec, cls_bytes, args, deps = msg
        cls = self._function(spec.fn_id, cls_bytes)
        self.actor_id = spec.actor_id
        self.actor_name = cls.__name__
        _mark_logs(f":actor_name:{cls.__name__}")
        self.was_restarted = spec.actor_opts.get("restarted", False)
        self.current_task = spec
        t0 = time.time()
        error = None
        try:
            a, kw = _load_args(args, deps)
            with _user_code():
                self.actor = cls(*a, **kw)
        except SystemExit as e:
            _exit_on_sys_exit(spec, e)
        except BaseException as e:  # noqa: BLE001
            error = str(_serial.describe_exception(e, spec.name, os.getpid()))
        _flush_streams()
        self.current_task = None
        if error is None:
            conc = spec.actor_opts.get("max_concurrency")
            if _actor_concurrency.is_async_class(cls):
                self.pool = _actor_concurrency.AsyncRunner(
                    conc or _actor_concurrency.ASYNC_DEFAULT_CONCURRENCY, self.run_async_call,
                    self.send_cancelled)
            elif (conc or 1) > 1:
                self.pool = _actor_concurrency.ThreadRunner(conc, self.run_call,
                                                            self.send_cancelled)
        # The error travels as text: the head never unpickles user data.
        self.send(("actor_ready", None, spec.actor_id, error, t0, time.time()))

    async def run_async_call(self, msg) -> None:
        """One call of an async actor, on its event loop (see ``_actor_concurrency``)."""
        _, _, spec, args, deps = msg
        t0 = time.time()
        try:
            a, kw = _load_args(args, deps)
            value = getattr(self.actor, spec.method)(*a, **kw)
            if inspect.isawaitable(value):
                value = await value
        except asyncio.CancelledError:
            _debugger.leave_user_code()
            raise                               # cancel(): the runner reports it
        except BaseException as e:  # noqa: BLE001 - everything goes back to the caller
            out = self._failed(spec, e, t0)
        else:
            out = self._succeeded(spec, value, t0)
        _debugger.leave_user_code()
        results, t0, t1, retry, value = out
        self.send(("done", None, spec.tid, results, t0, t1, retry))

    def take_cancel(self, tid) -> bool:
        """A cancel signal came before task ``tid``'s code started: was it meant for it?

        The signal says nothing of which task it is for: it may be a late one for
        the task before (the head had not yet read its "done"). The head writes
        ``("cancel_task", None, tid)`` to the pipe *before* it sends the signal, so
        that message is already here: read what the pipe holds and look.
        """
        mine = False
        with self._read_lock:
            while self.conn.poll(0):
                msg = self._recv()
                if msg[0] == "cancel_task":
                    mine = mine or msg[2] == tid
                elif msg[0] in ("reply", "cancel_call") or (msg[0] == "call" and self.pool is not None):
                    self._dispatch(msg)
                else:
                    self.backlog.append(msg)
        return mine

    def cancel_call(self, tid) -> None:
        """``cancel()`` of an actor call the head already sent here (see _actor_concurrency)."""
        if self.pool is not None:
            self.pool.cancel(tid)
        else:
            self.cancelled.add(tid)             # skipped if it has not started yet

    def send_cancelled(self, msg) -> None:
        spec = msg[2]
        err = TaskCancelledError(f"task {spec.name} ({spec.tid.hex()}) was cancelled")
        self.send(("done", None, spec.tid, _serial.error_results(spec.returns, err),
                   time.time(), time.time(), False))

    def _read_ahead(self) -> None:
        """Read what the pipe already holds (a cancel may follow the call it stops)."""
        with self._read_lock:
            while self.conn.poll(0):
                self._dispatch(self._recv())

    def run_call(self, msg) -> None:
        _, _, spec, args, deps = msg
        if self.pool is None:
            self._read_ahead()
            if spec.tid in self.cancelled:
                self.cancelled.discard(spec.tid)
                self.send_cancelled(msg)
                return
        if self.pool is None:
            self.current_task = spec
        method = getattr(self.actor, spec.method)
        results, t0, t1, retry, value = self._execute(spec, method, args, deps)
        if self.pool is None:
            self.current_task = None
        self.send(("done", None, spec.tid, results, t0, t1, retry))
        del value                  # now its refs may be dropped (see _execute)


# --- signals: cancellation by CANCEL_SIGNAL, only while user code runs ----
_pending_interrupt = False
_in_user_code = 0
_cancel_seen = False         # the running task was cancelled (is_canceled())


def _on_cancel(signum, frame) -> None:
    global _pending_interrupt, _cancel_seen
    _cancel_seen = True
    if _in_user_code > 0:
        raise KeyboardInterrupt("task cancelled")
    _pending_interrupt = True


class _deferred_cancel:
    """Around a message send: a cancel waits, then is raised once the message is out.

    Signal handlers run in the main thread only, so only its state matters.
    """

    __slots__ = ("_main",)

    def __enter__(self):
        global _in_user_code
        self._main = _in_user_code > 0 and threading.current_thread() is threading.main_thread()
        if self._main:
            _in_user_code -= 1

    def __exit__(self, *exc):
        global _in_user_code, _pending_interrupt
        if self._main:
            _in_user_code += 1
            if _pending_interrupt and exc[0] is None:
                _pending_interrupt = False
                raise KeyboardInterrupt("task cancelled")


class _user_code:
    """Around the user's code: a cancel signal raises KeyboardInterrupt inside it.

    ``tid``: the task about to run, whose cancel may have come a moment before
    its code started (while its arguments were read): see ``WorkerCore.take_cancel``.
    """

    __slots__ = ("tid",)

    def __init__(self, tid=None):
        self.tid = tid

    def __enter__(self):
        global _in_user_code, _pending_interrupt, _cancel_seen
        early = _pending_interrupt
        _pending_interrupt = False
        if threading.current_thread() is threading.main_thread():
            _cancel_seen = False
            if early and self.tid is not None and _context.peek().take_cancel(self.tid):
                _cancel_seen = True
                raise KeyboardInterrupt("task cancelled")
            _in_user_code += 1
            if _pending_interrupt:       # a cancel signal came while we looked: it is this task's
                _pending_interrupt = False
                _in_user_code -= 1
                _cancel_seen = True
                raise KeyboardInterrupt("task cancelled")

    def __exit__(self, *exc):
        global _in_user_code
        _debugger.leave_user_code()         # a breakpoint()'s session ends with the task
        if threading.current_thread() is threading.main_thread():
            _in_user_code -= 1


class _unblocked_signals:
    """Inside a nested get/wait: defer a cancel, then deliver it on return to user code."""

    def __enter__(self):
        global _in_user_code
        self._main = threading.current_thread() is threading.main_thread() and _in_user_code > 0
        if self._main:
            _in_user_code -= 1

    def __exit__(self, *exc):
        global _in_user_code, _pending_interrupt
        if self._main:
            _in_user_code += 1
            if _pending_interrupt:
                _pending_interrupt = False
                raise KeyboardInterrupt("task cancelled")


def _flush_streams() -> None:
    """After user code: send its output, and replace a stream it closed."""
    for name in ("stdout", "stderr"):
        s = getattr(sys, name)
        try:
            if isinstance(s, _Forward):
                if s.closed:
                    setattr(sys, name, _Forward(s._core, name, s._tee))
                else:
                    s.end_task()
            else:
                s.flush()
        except Exception:   # noqa: BLE001 - a user's replacement stream may do anything
            pass


_log_files: tuple = ()      # this worker's .out and .err (_logs.LogFile), if any


def _mark_logs(line: str) -> None:
    """Write a marker line (``:task_name:f``, as Ray's worker logs have) to the log files
    only: ``minirt logs --task f`` finds a task's output by it."""
    for f in _log_files:
        f.write(line + "\n")


def _driver_gone() -> None:
    """The pipe to the driver closed: take what this worker started along, and exit."""
    try:
        for p in _procs.descendants_of([os.getpid()])[os.getpid()]:
            p.kill()                          # those that left our group as well
    except Exception:   # noqa: BLE001 - exiting regardless
        pass
    try:
        if os.getpgid(0) == os.getpid():     # our own group (see main): subprocesses too
            os.killpg(0, signal.SIGKILL)
    except OSError:
        pass
    os._exit(0)


def main(conn, cfg: dict) -> None:
    """Entry point of a worker process (started by ``_procs.start_process``)."""
    _refs.reseed_ids()
    try:
        os.setpgid(0, 0)    # a group of its own: no group SIGINT/SIGTERM from the driver's
    except OSError:
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(CANCEL_SIGNAL, _on_cancel)
    signal.signal(STACK_SIGNAL, signal.SIG_IGN)    # until faulthandler answers it (below)
    core = WorkerCore(conn, cfg)
    _context.set_worker_core(core)
    _debugger.install(core, _unblocked_signals)     # breakpoint() opens pdb in the driver
    global _log_files
    out = err = None
    if cfg.get("logs_dir"):             # fds 1 and 2 -> the session's log files (_logs.py)
        try:
            out, err, stack = _logs.open_worker_logs(cfg["logs_dir"], cfg["wid"])
            faulthandler.register(STACK_SIGNAL, file=stack, all_threads=True)
            _log_files = (out, err)
        except OSError:
            out = err = None
    if cfg.get("log_to_driver", True):
        sys.stdout = _Forward(core, "stdout", out)
        sys.stderr = _Forward(core, "stderr", err)
    elif out is not None:
        sys.stdout = _logs.FileStream(out, "stdout")
        sys.stderr = _logs.FileStream(err, "stderr")
    try:
        core.serve()
    finally:
        try:
            conn.close()
        except OSError:
            pass
    os._exit(0)
