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

__all__ = [
    "MinirtError", "TaskError", "WorkerCrashedError", "ActorError",
    "ActorDiedError", "GetTimeoutError", "TaskCancelledError",
    "ObjectLostError", "ObjectStoreFullError", "ActorAlreadyExistsError",
    "RayError", "RayTaskError", "RayActorError",
]


class MinirtError(Exception):
    """Base class of every error raised by the runtime."""

    def _render_traceback_(self):
        """IPython: your frame first, one line of advice, minirt's frames folded (_reprs.py)."""
        from ._reprs import render_traceback
        return render_traceback(self)

    def _repr_html_(self):
        from ._reprs import error_html
        return error_html(self)


class TaskError(MinirtError):
    """User code raised inside a task or actor method.

    ``get`` raises an instance that is *also* an instance of the user's
    exception class (see :func:`as_instanceof_cause`), so ``except KeyError``
    keeps working across processes. The remote exception is available as
    ``.cause`` and is chained as ``__cause__``; ``str()`` shows the remote
    traceback headed by the task name and worker pid.
    """

    def __init__(self, function_name: str, traceback_str: str, cause: BaseException | None,
                 pid: int | None = None):
        self.function_name = function_name
        self.traceback_str = traceback_str
        self.cause = cause
        self.pid = pid
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"{self.function_name} (pid={self.pid})" if self.pid else self.function_name
        return f"{type(self.cause).__name__ if self.cause else 'Error'} in {where}:\n{self.traceback_str}".rstrip()

    def __str__(self) -> str:
        return self._message()

    def __reduce__(self):
        return (_rebuild_task_error, (self.function_name, self.traceback_str, self.cause, self.pid))

    def as_instanceof_cause(self) -> "TaskError":
        """Return a copy that is an instance of both TaskError and the cause's class.

        Falls back to ``self`` when the cause's class cannot be subclassed
        (``bool``-like final types, classes with incompatible layouts, ...).
        """
        cause_cls = type(self.cause) if self.cause is not None else None
        if cause_cls is None or isinstance(self, cause_cls) or issubclass(TaskError, cause_cls):
            return self
        try:
            cls = _dual_class(cause_cls)
            err = cls.__new__(cls)
            TaskError.__init__(err, self.function_name, self.traceback_str, self.cause, self.pid)
            err.args = self.cause.args if self.cause is not None else ()
            err.__dict__.update({k: v for k, v in getattr(self.cause, "__dict__", {}).items()
                                 if k not in err.__dict__})
            return err
        except TypeError:
            return self


_dual_cache: dict[type, type] = {}


def _dual_class(cause_cls: type) -> type:
    cls = _dual_cache.get(cause_cls)
    if cls is None:
        cls = type(f"TaskError({cause_cls.__name__})", (TaskError, cause_cls),
                   {"__str__": TaskError.__str__, "__reduce__": TaskError.__reduce__,
                    "__init__": TaskError.__init__, "__module__": __name__})
        _dual_cache[cause_cls] = cls
    return cls


def _rebuild_task_error(function_name, traceback_str, cause, pid):
    return TaskError(function_name, traceback_str, cause, pid)


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


class ObjectStoreFullError(MinirtError):
    """The object store is full and spilling to disk failed too."""


class ActorAlreadyExistsError(MinirtError, ValueError):
    """A named actor with this name already exists in the namespace."""


# Ray's names, so code written for Ray runs unchanged.
RayError = MinirtError
RayTaskError = TaskError
RayActorError = ActorError
