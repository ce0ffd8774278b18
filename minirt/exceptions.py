"""Errors that minirt raises, under minirt's names and under Ray's.

Every error derives from :class:`MinirtError` (alias ``RayError``), so one
``except minirt.exceptions.MinirtError`` catches anything the runtime raises.
The lessons meet these in "Tasks revisited" (retries) and "Patterns and
troubleshooting" (reading errors).

    >>> import minirt
    >>> issubclass(minirt.exceptions.GetTimeoutError, TimeoutError)
    True
"""

from __future__ import annotations

import types

__all__ = [
    "MinirtError", "TaskError", "WorkerCrashedError", "ActorError",
    "ActorDiedError", "GetTimeoutError", "TaskCancelledError",
    "ObjectLostError", "OwnerDiedError", "ObjectStoreFullError", "OutOfDiskError",
    "OutOfMemoryError", "ActorAlreadyExistsError",
    "RuntimeShutdownError", "RuntimeBrokenError", "TaskUnschedulableError",
    "InfeasibleWarning", "RayError", "RayTaskError", "RayActorError",
]


class MinirtError(Exception):
    """Base class of every error raised by the runtime.

    ``minirt.util._reprs`` gives it ``_render_traceback_`` (IPython: your frame first,
    one line of advice, minirt's frames folded) and ``_repr_html_`` at import.
    """


class TaskError(MinirtError):
    """User code raised inside a task or actor method.

    ``get`` raises an instance that is *also* an instance of the user's
    exception class (see :func:`as_instanceof_cause`), so ``except KeyError``
    keeps working across processes. The remote exception is available as
    ``.cause`` and is chained as ``__cause__``; ``str()`` shows the remote
    traceback headed by the task name and worker pid.

    ``cause`` is None when the remote exception could not be rebuilt here;
    ``cause_name`` still names its type and the traceback text is complete.

    ``task_id`` (hex) names the task whose code raised, which
    ``minirt.util.debug.rerun`` re-runs; ``actor_id`` (hex, Ray's field) is set
    when that was an actor method. Both are None when unknown.
    """

    def __init__(self, function_name: str, traceback_str: str, cause: BaseException | None,
                 pid: int | None = None, *, cause_name: str | None = None,
                 task_id: str | None = None, actor_id: str | None = None):
        self.function_name = function_name
        self.traceback_str = traceback_str
        self.cause = cause
        self.pid = pid
        self.cause_name = type(cause).__name__ if cause is not None else cause_name
        self.task_id = task_id
        self.actor_id = actor_id
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"{self.function_name} (pid={self.pid})" if self.pid else self.function_name
        return f"{self.cause_name or 'Error'} in {where}:\n{self.traceback_str}".rstrip()

    def __str__(self) -> str:
        return self._message()

    def __reduce__(self):
        return (_rebuild_task_error, (self.function_name, self.traceback_str, self.cause, self.pid,
                                      self.cause_name, getattr(self, "task_id", None),
                                      getattr(self, "actor_id", None)))

    def as_instanceof_cause(self) -> "TaskError":
        """Return a copy that is an instance of both TaskError and the cause's class.

        The copy is made without calling the cause class's ``__init__`` with
        the wrong arguments: its ``__new__``, then its ``__init__`` with the
        cause's ``args`` where that works (built-in types such as
        ``UnicodeDecodeError`` fill their fields there), then the cause's
        attributes. Causes that are not ``Exception`` (``SystemExit``,
        ``KeyboardInterrupt``, ``GeneratorExit``) are not mixed in, so an
        uncaught one cannot end the driver silently. When the class cannot be
        subclassed at all, ``self`` is returned with a note in its message:
        catch ``TaskError`` and read ``.cause`` then.
        """
        cause = self.cause
        if cause is None or isinstance(self, type(cause)):
            return self
        cause_cls = type(cause)
        if not issubclass(cause_cls, Exception) or issubclass(TaskError, cause_cls):
            return self
        try:
            cls = _dual_class(cause_cls)
            err = cls.__new__(cls)
        except Exception as e:  # noqa: BLE001 - final classes, layout conflicts, odd __new__
            self.traceback_str += (
                f"\n(minirt: this error is not an instance of {cause_cls.__qualname__}, "
                f"which cannot be subclassed ({e}); catch minirt.exceptions.TaskError "
                "and look at its .cause)")
            self.args = (self._message(),)
            return self
        native_init = next(k.__dict__["__init__"] for k in cause_cls.__mro__
                           if not isinstance(k.__dict__.get("__init__", _python_init),
                                             types.FunctionType))
        try:     # C fields (UnicodeDecodeError.start, OSError.errno...); user code is not run
            native_init(err, *cause.args)
        except Exception:  # noqa: BLE001 - args that do not fit: the attributes suffice
            pass
        err.args = cause.args
        err.__dict__.update(getattr(cause, "__dict__", None) or {})
        err.function_name = self.function_name
        err.traceback_str = self.traceback_str
        err.cause = cause
        err.pid = self.pid
        err.cause_name = self.cause_name
        err.task_id = getattr(self, "task_id", None)
        err.actor_id = getattr(self, "actor_id", None)
        return err


def _python_init(self):    # stands for "no __init__ here" while walking an MRO
    pass


_dual_cache: dict[type, type] = {}


def _dual_class(cause_cls: type) -> type:
    """A subclass of TaskError and ``cause_cls`` whose instances can be made with ``__new__``.

    TaskError comes first in the bases when that works; C types whose
    ``__new__`` must stay the class's own (``MemoryError`` and its subclasses,
    like NumPy's ``_ArrayMemoryError``) need their class first instead.
    """
    cls = _dual_cache.get(cause_cls)
    if cls is None:
        error = None
        for bases in ((TaskError, cause_cls), (cause_cls, TaskError)):
            try:
                cls = type(f"TaskError({cause_cls.__name__})", bases,
                           {"__str__": TaskError.__str__, "__reduce__": TaskError.__reduce__,
                            "__init__": TaskError.__init__, "__module__": __name__})
                cls.__new__(cls)
                break
            except Exception as e:  # noqa: BLE001 - try the other order
                error, cls = e, None
        if cls is None:
            raise TypeError(str(error))
        _dual_cache[cause_cls] = cls
    return cls


def _rebuild_task_error(function_name, traceback_str, cause, pid, cause_name=None, task_id=None,
                        actor_id=None):
    return TaskError(function_name, traceback_str, cause, pid, cause_name=cause_name,
                     task_id=task_id, actor_id=actor_id)


class WorkerCrashedError(MinirtError):
    """The worker process died while running the task and no retries were left."""


class ActorError(MinirtError):
    """Base class for errors about actors."""


class ActorDiedError(ActorError):
    """The actor is dead: killed, crashed with no restarts left, or its ``__init__`` raised."""


class GetTimeoutError(MinirtError, TimeoutError):
    """``get`` waited longer than its ``timeout``."""


class TaskCancelledError(MinirtError):
    """The task was cancelled with ``minirt.cancel`` before it could finish."""


class ObjectLostError(MinirtError):
    """The object's data is gone (its store was lost or it was freed)."""


class OwnerDiedError(ObjectLostError):
    """The object is gone because the process that created it died (Ray's name)."""


class RuntimeShutdownError(MinirtError, RuntimeError):
    """``shutdown()`` was called while this call was waiting, or before it started."""


class RuntimeBrokenError(MinirtError, RuntimeError):
    """An internal error broke the runtime: call ``shutdown()``, then ``init()`` again.

    Like ``concurrent.futures``' ``BrokenProcessPool``: every pending and later
    call raises it, and ``__cause__`` is the internal error.
    """


class ObjectStoreFullError(MinirtError):
    """The object store is full and spilling to disk failed too."""


class OutOfDiskError(ObjectStoreFullError):
    """Spilling failed: the disk holding the spill directory is full (Ray's name).

    The disk counts as full above ``RAY_local_fs_capacity_threshold`` (default 0.95)
    of its size, or when a write fails for lack of space. It is also an
    :class:`ObjectStoreFullError` (in Ray it is not), so one ``except`` catches both.
    """


class OutOfMemoryError(MinirtError):
    """The memory monitor killed the worker running this task to keep the machine alive.

    Raised by ``get`` when the node's memory use went above
    ``RAY_memory_usage_threshold`` (default 0.95) and the task had no retries
    left (``max_retries``). The message names the task, its pid and memory,
    the node's memory and the threshold, and what to do. Lesson 08
    (patterns and troubleshooting) shows it.

        >>> from minirt.exceptions import OutOfMemoryError, RayError
        >>> issubclass(OutOfMemoryError, RayError)
        True
    """

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class TaskUnschedulableError(MinirtError):
    """No live node can ever run the task (the nodes that could were removed)."""


class ActorAlreadyExistsError(MinirtError, ValueError):
    """A named actor with this name already exists in the namespace."""


class InfeasibleWarning(UserWarning):
    """A task or actor asks for more than any node has: it stays pending, as in Ray."""


# Ray's names, so code written for Ray runs unchanged.
RayError = MinirtError
RayTaskError = TaskError
RayActorError = ActorError
