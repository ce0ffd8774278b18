"""Debugging tasks from the driver: paused ``breakpoint()`` sessions and post-mortem re-runs.

``breakpoint()`` inside a task or an actor method pauses that worker and opens
pdb in the driver (see ``minirt/_debugger.py``): at the next ``get``/``wait``
that waits, or on demand with :func:`attach`.

:func:`rerun` takes the ref of a failed task (or the error ``get`` raised)
and calls the task's function again in the driver, with the same arguments
(the values of its ref arguments, as the task saw them), so that ``pdb``'s
post-mortem shows the real frames and variables of the failure (Dask's
``recreate_error_locally`` is the precedent)::

    get(ref) raises TaskError (task_id) --> rerun(error)
        --> the head's record of that failed task ("failed_task"): function, arguments
        --> f(*args) in the driver raises again --> pdb.post_mortem(its traceback)

The head keeps the last ``FAILED_MAX`` (16) failed tasks, their arguments
pinned (at most ``FAILED_ARGS_MAX``, 256 MiB, in all: ``Scheduler.keep_failed``;
in local mode ``LocalCore`` keeps the last 16). An actor method cannot be re-run: the actor's state lives in its own
process, so :func:`rerun` says so and shows the remote traceback instead.
In local mode (``init(local_mode=True)``) ``%debug`` after a failed ``get``
reaches the task's frames directly (the error's ``__cause__`` keeps them).

Lesson: lessons/09_debugging.ipynb (Debugging distributed code).
"""

from __future__ import annotations

import inspect
import pdb
import sys
import time as _time

import cloudpickle

from .. import _context, _debugger, _protocol, _task_values
from .._refs import ObjectRef
from .._scheduler import FAILED_ARGS_MAX, FAILED_MAX
from .._serial import FILE
from ..exceptions import MinirtError, TaskError

__all__ = ["attach", "rerun"]

def attach(timeout: float = 0.0) -> int:
    """Open the pdb sessions of tasks paused at ``breakpoint()``, one after another.

    A paused task's session opens by itself at the driver's next waiting
    ``get``/``wait``; ``attach`` opens it without waiting for a result (say, the
    task's result is never fetched, or the driver is busy elsewhere). Each
    session reads commands with ``input()``: the terminal in a script, the input
    box in a notebook; its prompt names the worker, pid and task, e.g.
    ``(Pdb worker-3 pid 1234 task f)``. ``c`` continues the task, and so do
    ``q`` (breakpoints are cleared; the task is not failed) and an end of input.

    Args:
        timeout: seconds to wait for a task to pause if none is paused now
            (0: only the sessions paused now).

    Returns:
        The number of sessions served (0 if no task was paused).

    Raises:
        TypeError: ``timeout`` is not a number.
        ValueError: ``timeout`` is negative.
        RuntimeError: called inside a task (sessions are served by the driver).

    Example:
        >>> _ = minirt.init(num_cpus=1)
        >>> minirt.util.debug.attach()
        minirt: no task is paused in the debugger
        0

    Lesson: lessons/09_debugging.ipynb (Debugging distributed code).
    """
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, got {type(timeout).__name__}")
    if not timeout >= 0:
        raise ValueError(f"timeout must be 0 or more seconds, got {timeout!r}")
    core = _context.peek()
    if core is not None and not core.is_driver:
        raise RuntimeError("attach() serves debugger sessions in the driver; call it in the "
                           "notebook or script that started minirt, not inside a task")
    if getattr(core, "local_mode", False):
        print("minirt: no task is paused in the debugger (in local mode, breakpoint() in a "
              "task opens pdb right where it runs, in this process)")
        return 0
    if core is None or core._closed:
        print("minirt: no task is paused in the debugger (minirt is not running)")
        return 0
    deadline = _time.monotonic() + timeout
    served = 0
    while True:
        served += _debugger.serve(core)
        if served or _time.monotonic() >= deadline or core._closed:
            break
        core.debug.changed.wait(min(0.2, max(0.0, deadline - _time.monotonic())))
    if not served:
        print("minirt: no task is paused in the debugger")
    return served

def rerun(ref_or_error, *, debugger: bool = True):
    """Re-run a failed task's function in the driver, with the same arguments, under pdb.

    The task's function is called again here with its arguments (ref
    arguments resolved to their values); when it raises again,
    ``pdb.post_mortem`` opens at the failing line, so ``p x``, ``ll``, ``up``
    and ``where`` show the real frames and values of the failure. ``q`` ends it.

    Args:
        ref_or_error: the ObjectRef of a failed task, or the error ``minirt.get``
            raised for it (a ``TaskError``, Ray's ``RayTaskError``).
        debugger: False re-runs without opening pdb and returns the exception
            (for scripts and tests).

    Returns:
        With ``debugger=False``, the exception the re-run raised (None if it ran
        without error this time); otherwise None. For an actor method: None, after
        printing why it cannot be re-run and the remote traceback.

    Raises:
        TypeError: ``ref_or_error`` is neither an ObjectRef nor a TaskError.
        ValueError: the ref's task did not fail, or did not fail in its own code
            (a crash, a cancel), or the runtime no longer keeps that task (only the
            last 16 failed tasks are kept, and none after ``shutdown()``).

    Example:
        >>> from minirt.util import debug
        >>> @minirt.remote
        ... def halve(n):
        ...     half = n // 2
        ...     assert half * 2 == n, f"{n} is odd"
        ...     return half
        >>> err = debug.rerun(halve.remote(7), debugger=False)
        >>> err
        AssertionError('7 is odd')
        >>> err.__traceback__.tb_next.tb_frame.f_locals["half"]
        3

    Lesson: lessons/09_debugging.ipynb (Debugging distributed code).
    """
    if not isinstance(debugger, bool):
        raise TypeError(f"debugger must be True or False; got {debugger!r}")
    error = _error_of(ref_or_error)
    core = _context.current()
    if not core.is_driver:
        raise RuntimeError("rerun() opens a debugger in the driver: call it there, not inside "
                           "a task or an actor method")
    if error.actor_id is not None:
        tip = ("in local mode, %debug (or pdb.pm()) right after the failing get reaches the "
               "method's frames" if getattr(core, "local_mode", False) else
               "call breakpoint() in the method, or run it with minirt.init(local_mode=True)")
        print(f"minirt: {error.function_name} is an actor method: rerun() cannot re-run it, "
              "because the actor's state lives in the actor, not here. Here is the remote "
              f"traceback; to debug the actor's code, {tip}.\n" + error.traceback_str.rstrip())
        return None
    if error.task_id is None:
        raise ValueError(f"this error does not say which task raised it, so {error.function_name} "
                         "cannot be re-run (its exception could not be rebuilt in the driver)")
    record = core.call("failed_task", bytes.fromhex(error.task_id))
    if record is None:
        raise ValueError(f"minirt no longer keeps task {error.function_name} "
                         f"({error.task_id}): only the last {FAILED_MAX} failed tasks are "
                         f"kept, with at most {FAILED_ARGS_MAX >> 20} MiB of arguments in "
                         "all, in the runtime that ran "
                         "them (not after shutdown()); run it again and call rerun() on the "
                         "new error")
    name, fn_bytes, args, arg_oid, deps = record
    if arg_oid is not None:
        args = core.get([arg_oid], None)[0]
    a, kw = _task_values.load_args(args, core.get(deps, None) if deps else [])
    fn = cloudpickle.loads(fn_bytes)
    try:
        value = fn(*a, **kw)
        if inspect.isgenerator(value):          # a streaming task fails while iterated
            for _ in value:
                pass
    except (Exception, SystemExit) as e:  # noqa: BLE001 - the failure we came for
        exc = e
    else:
        print(f"minirt: {name} ran without error when re-run in the driver: its failure "
              "depends on something else (its worker, the time, randomness, files...)")
        return None
    if not debugger:
        return exc
    tb = exc.__traceback__.tb_next or exc.__traceback__     # from the task's frame down
    print(f"minirt: re-ran {name} in the driver; it raised {type(exc).__name__}: {exc}\n"
          "Post-mortem debugger at the failing line (p name, ll, up, where; q quits):")
    sys.stdout.flush()
    pdb.post_mortem(tb)
    return None


def _error_of(ref_or_error) -> TaskError:
    """The TaskError behind a failed ref, or the error itself."""
    if isinstance(ref_or_error, TaskError):
        return ref_or_error
    if not isinstance(ref_or_error, ObjectRef):
        raise TypeError("rerun() takes the ObjectRef of a failed task or the error minirt.get "
                        f"raised for it (a TaskError); got {type(ref_or_error).__name__}")
    from .. import api
    try:
        api.get(ref_or_error)
    except TaskError as e:
        return e
    except MinirtError as e:
        raise ValueError(f"the task behind this ref did not fail in its own code, it ended with "
                         f"{type(e).__name__} ({e}): there is nothing to re-run") from e
    raise ValueError("the task behind this ref did not fail: there is nothing to re-run")


def _failed_task(head, tid: bytes):
    """The head's answer to ``call("failed_task", tid)`` (see ``Scheduler.keep_failed``):
    ``(name, pickled function, inline args or None, args' object id or None, dep ids)``."""
    entry = head.sched.failed.get(tid)
    if entry is None:
        return None
    spec = entry.spec
    fn = head.sched.fns.get(spec.fn_id)
    if spec.args[0] == FILE:
        return (spec.name, fn, None, spec.args[2], list(spec.deps))
    return (spec.name, fn, spec.args[:2], None, list(spec.deps))


_protocol.ADDON_REQUESTS["failed_task"] = _failed_task
