"""The worker process: runs tasks and hosts actors.

A worker is forked from the forkserver (see ``_procs.py``) with one end of a
private pipe to the head. Its main thread loops: read a message, run it,
send the result back::

    head --("task", spec, fn, args, deps)--> worker: load args (zero-copy for
    head <--("done", tid, results, t0, t1)-- large ones), call fn, store result

Its parts, each a module of its own::

    _worker.py          Worker: the main loop (serve), running tasks, an actor's
                        creation and calls, storing what they return
    _worker_core.py     WorkerCore: the minirt API inside the worker, as messages
                        and requests to the head over the same pipe
    _task_values.py     arguments rebuilt (DepSlot), results stored, retry_exceptions
    _worker_signals.py  cancel by SIGUSR1: KeyboardInterrupt only in user code
    _worker_output.py   print() -> the driver (and the session's log files)

A worker leads its own process group and ignores SIGINT: Kernel > Interrupt
in Jupyter (SIGINT to the kernel's group) stops the driver's blocked call,
not the tasks.

The lesson "How the runtime works" follows one task through this file.
"""

from __future__ import annotations

import asyncio
import faulthandler
import inspect
import os
import signal
import sys
import time

import cloudpickle  # noqa: F401  (preloaded by the forkserver)
import numpy  # noqa: F401  (preloaded: most lessons' tasks use it)

from . import (_actor_concurrency, _context, _debugger, _logs, _protocol, _refs, _serial,
               _streaming, _worker_output)
from ._refs import ObjectRef
from ._serial import FILE
from ._task_values import (exit_on_sys_exit, failure, load_args, split_returns, store_value,
                           task_error, unserializable)
from ._worker_core import WorkerCore
from ._worker_output import Forward, flush_streams, mark_logs
from ._worker_signals import CANCEL_SIGNAL, STACK_SIGNAL, on_cancel, unblocked_signals, user_code
from .exceptions import ObjectStoreFullError, TaskCancelledError



class Worker(WorkerCore):
    """A worker's core that also runs what the head sends (:meth:`serve`, the main
    loop): tasks, its actor's creation and calls."""


    # --- running work -----------------------------------------------------
    def serve(self) -> None:
        while True:
            if self.backlog:
                msg = self.backlog.popleft()
            else:
                self.drain_refs()
                with self._read_lock:
                    self._dispatch(self._recv())     # replies, cancels: at once; work: backlog
                continue
            kind = msg[0]
            if kind == "task":
                self._read_ahead()          # a drop or cancel the head sent after it
                if msg[2].tid in self.dropped:
                    self.dropped.discard(msg[2].tid)
                    continue
                self.run_task(msg)
            elif kind == "call":
                self.run_call(msg)
            elif kind == "actor":
                self.create_actor(msg)
            elif kind == "exit":
                flush_streams()
                self.drain_refs()
                return
            else:
                raise _protocol.ProtocolError(f"unknown message kind {kind!r} from the head")

    def _function(self, fn_id, fn_bytes, name):
        """The task's function (or actor's class), unpickled once per worker.

        One that cannot be loaded here (say, pickled by reference to a module the
        workers cannot import) becomes a function that raises why: the caller gets
        that error from ``get``; the worker must not die of it.
        """
        fn = self.fns.get(fn_id)
        if fn is None:
            try:
                fn = self.fns[fn_id] = cloudpickle.loads(fn_bytes)
            except Exception as e:  # noqa: BLE001 - reported to the caller
                return _cannot_load(name, e)
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
            a, kw = load_args(args, deps)
            with user_code(spec.tid if spec.kind == "task" else None):
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
        flush_streams()
        return results, t0, time.time(), False, value

    def _failed(self, spec, e: BaseException, t0):
        if isinstance(e, SystemExit):
            exit_on_sys_exit(spec, e)
        err, retry = task_error(spec, e)
        results = _serial.error_results(spec.returns, err)
        flush_streams()
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
                with user_code():
                    item = next(it)
                result = store_value(item, oid, self.shm_dir, self.spill_dir)
            except StopIteration:
                return refs
            except BaseException as e:  # noqa: BLE001 - the error becomes the last item
                if isinstance(e, SystemExit):
                    exit_on_sys_exit(spec, e)
                err = failure(spec, e)
                result = _serial.error_results([oid], err)[0]
                it = iter(())
            refs.append(ObjectRef(oid))
            self.send(("yield", None, spec.tid, result))

    def _store(self, spec, value):
        values = split_returns(spec, value)
        out = []
        for oid, v in zip(spec.returns, values):
            try:
                out.append(store_value(v, oid, self.shm_dir, self.spill_dir))
            except Exception as e:
                if isinstance(e, ObjectStoreFullError):
                    raise
                for done in out:            # don't leave files nobody will register
                    if done.kind == FILE:
                        _serial.unlink(os.path.join(self.shm_dir, done.oid.hex()))
                raise unserializable(spec, v, e) from e
        return out

    def run_task(self, msg) -> None:
        _, _, spec, fn_bytes, args, deps = msg
        mark_logs(f":task_name:{spec.name}")
        fn = self._function(spec.fn_id, fn_bytes, spec.name)
        self.current_task = spec
        results, t0, t1, retry, value = self._execute(spec, fn, args, deps)
        self.current_task = None
        self.send(("done", None, spec.tid, results, t0, t1, retry))
        del value                  # now its refs may be dropped (see _execute)

    def create_actor(self, msg) -> None:
        _, _, spec, cls_bytes, args, deps = msg
        cls = self._function(spec.fn_id, cls_bytes, spec.name)
        self.actor_id = spec.actor_id
        self.actor_name = getattr(cls, "__name__", spec.name)
        mark_logs(f":actor_name:{self.actor_name}")
        self.was_restarted = spec.actor_opts.get("restarted", False)
        self.current_task = spec
        t0 = time.time()
        error = None
        try:
            a, kw = load_args(args, deps)
            with user_code():
                self.actor = cls(*a, **kw)
        except SystemExit as e:
            exit_on_sys_exit(spec, e)
        except BaseException as e:  # noqa: BLE001
            error = str(_serial.describe_exception(e, spec.name, os.getpid()))
        flush_streams()
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
            a, kw = load_args(args, deps)
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

    def take_cancel(self, tid, blocking: bool = True, locked: bool = False) -> bool:
        """A cancel signal came: is it meant for task ``tid`` (the one running or about to)?

        The signal says nothing of which task it is for: it may be a late one for
        a task that has ended (the head had not yet read its "done", and this
        worker went on to the next task it was sent). The head writes
        ``("cancel_task", None, tid)`` to the pipe *before* it sends the signal, so
        that message is already here: read what the pipe holds and look.
        ``blocking=False`` (from the signal handler): if another thread is reading
        the pipe, assume the cancel is for ``tid``; ``locked``: the caller holds
        the reading lock already.
        """
        if locked:
            while self.readable():
                self._dispatch(self._recv())
            return tid in self.cancel_tids
        if not self._read_lock.acquire(blocking=blocking):
            return True
        try:
            while self.readable():
                self._dispatch(self._recv())
        finally:
            self._read_lock.release()
        return tid in self.cancel_tids

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
            while self.readable():
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


def main(conn, cfg: dict) -> None:
    """Entry point of a worker process (started by ``_procs.start_process``)."""
    _refs.reseed_ids()
    try:
        os.setpgid(0, 0)    # a group of its own: no group SIGINT/SIGTERM from the driver's
    except OSError:
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(CANCEL_SIGNAL, on_cancel)
    signal.signal(STACK_SIGNAL, signal.SIG_IGN)    # until faulthandler answers it (below)
    core = Worker(conn, cfg)
    _context.set_worker_core(core)
    _debugger.install(core, unblocked_signals)     # breakpoint() opens pdb in the driver
    out = err = None
    if cfg.get("logs_dir"):             # fds 1 and 2 -> the session's log files (_logs.py)
        try:
            out, err, stack = _logs.open_worker_logs(cfg["logs_dir"], cfg["wid"])
            faulthandler.register(STACK_SIGNAL, file=stack, all_threads=True)
            _worker_output.log_files = (out, err)
        except OSError:
            out = err = None
    if cfg.get("log_to_driver", True):
        sys.stdout = Forward(core, "stdout", out)
        sys.stderr = Forward(core, "stderr", err)
    elif out is not None:
        sys.stdout = _worker_output.FileStream(out, "stdout")
        sys.stderr = _worker_output.FileStream(err, "stderr")
    try:
        core.serve()
    finally:
        try:
            conn.close()
        except OSError:
            pass
    os._exit(0)


def _cannot_load(name: str, error: Exception):
    """A stand-in for a function the worker could not unpickle: calling it raises why."""
    def cannot_load(*args, **kwargs):
        raise RuntimeError(
            f"the worker could not load {name}: {type(error).__name__}: {error}. Is the module "
            "that defines it importable in the workers (on the path they had when the runtime "
            "started)? Functions defined in a notebook or a script travel by value.") from error
    return cannot_load
