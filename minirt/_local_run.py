"""Local mode's running of user code: the pieces a worker has, for ``_local.py``.

:func:`run` calls the task's function in the driver, inside
:func:`breakpoints`, retrying as ``retry_exceptions`` says; these turn what it
returned into stored values as a worker would (``_worker.py``), with the same
checks and messages::

    value --results()--> [(oid, pickled bytes, is_error, contained)]  (num_returns checked)
    generator --stream()--> each item stored as item_id(tid, i); the refs are the value

:func:`breakpoints` makes ``breakpoint()`` open pdb in a Jupyter kernel too
(whose own hook, debugpy's, does nothing unless its visual debugger is on).
"""

from __future__ import annotations

import contextlib
import os
import pdb
import sys
import time

from . import _serial, _streaming, _task_values
from ._local_actors import ExitActor
from ._refs import ObjectRef
from .exceptions import TaskCancelledError, TaskError


def results(spec, value) -> list:
    """Pickle the return value(s) as a worker does (same checks, same messages)."""
    values = _task_values.split_returns(spec, value)
    out = []
    for oid, v in zip(spec.returns, values):
        try:
            s = _serial.serialize(v)
        except Exception as e:
            raise _task_values.unserializable(spec, v, e) from e
        out.append((oid, _serial.to_inline(s), False, tuple(s.contained)))
    return out


def stream(spec, gen, objects, lock) -> list:
    """Run a generator task to its end, storing each value in ``objects`` (under ``lock``)
    as its own object, as a worker does; return the refs (the task's own value)."""
    refs = []
    it = iter(gen)
    while True:
        oid = _streaming.item_id(spec.tid, len(refs))
        try:
            item = next(it)
            s = _serial.serialize(item)
            entry = (oid, _serial.to_inline(s), False, tuple(s.contained))
        except StopIteration:
            return refs
        except (KeyboardInterrupt, ExitActor, SystemExit):
            raise
        except BaseException as e:  # noqa: BLE001 - the error becomes the last item
            err = _task_values.failure(spec, e)
            entry = (oid, objects.error_bytes(oid, err), True, ())
            it = iter(())
        with lock:
            objects.store(*entry)
        refs.append(ObjectRef(oid))


@contextlib.contextmanager
def breakpoints():
    """While a task runs here, ``breakpoint()`` opens pdb, as in a script.

    A Jupyter kernel sends ``breakpoint()`` to debugpy, which does nothing unless
    JupyterLab's visual debugger is on; then it is left alone, as are
    ``PYTHONBREAKPOINT`` (``=0`` disables it) and any other hook.
    """
    hook = sys.breakpointhook
    if hook is sys.__breakpointhook__ or not getattr(hook, "__module__", "").startswith(
            ("debugpy", "ipykernel")) or _debugpy_connected():
        yield
        return
    sys.breakpointhook = _pdb_here
    try:
        yield
    finally:
        if sys.breakpointhook is _pdb_here:
            sys.breakpointhook = hook


def _pdb_here(*args, **kwargs) -> None:
    if os.environ.get("PYTHONBREAKPOINT") == "0":
        return
    pdb.Pdb().set_trace(sys._getframe(1))


def _debugpy_connected() -> bool:
    try:
        import debugpy
        return bool(debugpy.is_client_connected())
    except Exception:  # noqa: BLE001 - no debugpy: nothing is connected
        return False


def run(core, spec, target, args, deps, actor) -> None:
    """Run a task or actor call in ``core`` (a LocalCore), retrying as ``retry_exceptions``
    says, and store its results or its error there, as a worker and the head would."""
    attempt = 0
    while True:
        frames = core._frames()
        frames.append((spec, spec.actor_id if actor is not None else None))
        with core._lock:
            core._holding.append(spec.resources)
        t0 = time.time()
        out = error = None
        retry = False
        try:
            try:
                with breakpoints():
                    a, kw = _task_values.load_args(args, deps)
                    fn = target()
                    if actor is not None and actor.async_class:
                        value = actor.run_async(lambda: fn(*a, **kw), core._frames,
                                                frames[-1])
                    else:
                        value = fn(*a, **kw)
                    if spec.num_returns == "streaming":
                        value = stream(spec, value, core.local_objects, core._lock)
                out = results(spec, value)
                del value
            finally:
                frames.pop()
                with core._lock:
                    core._holding.remove(spec.resources)
                core._record(spec, t0, time.time(), attempt)
        except ExitActor:
            core._fail(spec, core._exited(actor))
            return
        except KeyboardInterrupt:
            # Kernel > Interrupt while the task runs (in this process): stop here, as
            # plain Python does; the task's refs raise TaskCancelledError.
            core._fail(spec, TaskCancelledError(f"task {spec.name} ({spec.tid.hex()}) was "
                                                "interrupted (KeyboardInterrupt)"))
            raise
        except SystemExit as e:
            error = core._sys_exit(spec, e, actor)
        except BaseException as e:  # noqa: BLE001 - everything goes back to the caller
            error, retry = _task_values.task_error(spec, e)
            del e
        if error is None:
            core._finish(spec, out)
            return
        if retry and (spec.max_retries < 0 or attempt < spec.max_retries):
            attempt += 1
            core._event("retry", task=spec.name, id=spec.tid, attempt=attempt)
            continue
        if spec.kind == "task" and isinstance(error, TaskError):
            core._keep_failed(spec)
        core._fail(spec, error)
        return
