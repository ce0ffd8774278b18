"""Which "core" this process talks to.

In the driver the core is the :class:`~minirt._head.Head` itself (the
control plane lives in the driver process). Inside a worker it is a
:class:`~minirt._worker._WorkerCore` that forwards every call to the head
over the worker's pipe. ``api.py`` only ever calls ``current()``, so the same
``minirt.get`` works in a notebook and inside a task.
"""

from __future__ import annotations

_core = None


def set_worker_core(core) -> None:
    global _core
    _core = core


def set_head(head) -> None:
    global _core
    _core = head


def peek():
    """The current core, or None if the runtime is not started."""
    return _core


def current():
    """The current core, starting a runtime with defaults if there is none (as Ray does)."""
    core = _core
    if core is None:
        from . import api
        core = api._auto_init()
    return core
