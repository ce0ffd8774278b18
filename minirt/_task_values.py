"""A task's values in a worker: its arguments rebuilt, its results stored, its errors judged.

``remote_function.py`` pickles a call's arguments with a :class:`DepSlot` in
place of each top-level ``ObjectRef``; the worker gets the dependencies'
values separately and puts them back (:func:`load_args`). A result is
stored inline if small, else as a file in the node's store
(:func:`store_value`)::

    args (pickled, with DepSlot(i)) + deps [(kind, data)...] --load_args--> (a, kw)
    return value --store_value--> Result(inline bytes | file in /dev/shm, size)

Also shared by local mode (``_local.py``): whether ``retry_exceptions``
covers an error (:func:`should_retry`), naming the task on its error
(:func:`tag_error`), and ``sys.exit()`` in a task (:func:`exit_on_sys_exit`).
"""

from __future__ import annotations

import os
import sys

import cloudpickle

from . import _serial, _store
from ._protocol import Result
from ._serial import FILE, INLINE
from ._worker_output import flush_streams
from .exceptions import TaskError


class DepSlot:
    """Placeholder for the i-th top-level ObjectRef argument inside pickled args."""

    __slots__ = ("i",)

    def __init__(self, i: int):
        self.i = i

    def __reduce__(self):
        return (DepSlot, (self.i,))


def load_args(args, deps):
    """Rebuild (args, kwargs), putting dependency values where their slots are."""
    values = [_serial.load(kind, data) for kind, data in deps]
    a, kw = _serial.load(args[0], args[1])
    a = [values[x.i] if type(x) is DepSlot else x for x in a]
    kw = {k: values[v.i] if type(v) is DepSlot else v for k, v in kw.items()}
    return a, kw


def split_returns(spec, value) -> list:
    """The task's return value as one value per declared return (``num_returns``).

    Raises:
        ValueError: ``num_returns=n`` but the task returned something else than n values.
    """
    if spec.num_returns in (1, "streaming"):
        return [value]
    try:
        values = list(value)
    except TypeError:
        values = None
    if values is None or len(values) != spec.num_returns:
        n = "a non-sequence" if values is None else f"{len(values)} values"
        raise ValueError(f"{spec.name} was declared with num_returns={spec.num_returns} "
                         f"but returned {n}")
    return values


def store_value(value, oid: bytes, shm_dir: str, spill_dir: str):
    """Serialize one return value: inline bytes if small, else a file in the node store."""
    s = _serial.serialize(value)
    if s.size < _serial.INLINE_MAX:
        return Result(oid, INLINE, _serial.to_inline(s), False, tuple(s.contained))
    size = _store.write_value(s, oid.hex(), shm_dir, spill_dir)
    return Result(oid, FILE, size, False, tuple(s.contained))


_retry_classes: dict[bytes, tuple] = {}


def should_retry(spec, exc: BaseException) -> bool:
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


def task_error(spec, exc: BaseException):
    """The error a caller gets for ``exc`` raised by the task's code (a TaskError naming
    the task, or the exception itself if it cannot be wrapped), and whether
    ``retry_exceptions`` asks for another attempt.

    Returns:
        ``(error, retry)``; if the ``retry_exceptions`` classes cannot be loaded here,
        the error says so (a TaskError for a TypeError) and ``retry`` is False.
    """
    err = failure(spec, exc)
    try:
        return err, should_retry(spec, exc)
    except Exception as bad:  # noqa: BLE001 - classes that cannot be loaded here
        return failure(spec, TypeError(f"retry_exceptions of {spec.name} could not be "
                                       f"loaded in process {os.getpid()}: {bad}")), False


def failure(spec, exc: BaseException):
    """``exc`` raised by the task's code, as its caller gets it (see :func:`tag_error`)."""
    return tag_error(_serial.describe_exception(exc, spec.name, os.getpid()), spec)


def unserializable(spec, value, exc: Exception) -> TypeError:
    """The error for a return value that cannot be pickled."""
    return TypeError(f"the return value of {spec.name} could not be serialized "
                     f"({type(value).__name__}): {exc}")


def tag_error(err, spec):
    """Name the task (and actor) on a TaskError made for it; return ``err``.

    ``minirt.util.debug.rerun`` finds the failed task by this id. An upstream
    TaskError re-raised by a nested ``get`` keeps the id of the task that raised.
    """
    if isinstance(err, TaskError) and getattr(err, "task_id", None) is None:
        err.task_id = spec.tid.hex()
        err.actor_id = spec.actor_id.hex() if spec.kind == "call" and spec.actor_id else None
    return err


def exit_on_sys_exit(spec, exc: SystemExit) -> None:
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
    flush_streams()
    os._exit(status)
