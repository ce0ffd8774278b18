"""Which "core" this process talks to.

In the driver the core is the :class:`~minirt._head.Head` itself (the
control plane lives in the driver process). Inside a worker it is a
:class:`~minirt._worker_core.WorkerCore` that forwards every call to the head
over the worker's pipe. ``api.py`` only ever calls ``current()``, so the same
``minirt.get`` works in a notebook and inside a task.
"""

from __future__ import annotations

from typing import Optional, Protocol

_core = None


class Core(Protocol):
    """What ``api.py`` and the handles call, in the driver (the head) and in a worker.

    The same attributes answer "where am I" in both, so callers never branch on
    which one they have; ``is_driver`` is left for what only the driver may do
    (``init``/``shutdown``, the notebook views).
    """

    is_driver: bool
    namespace: str
    max_node: dict            # per resource, the most any live node has
    node_id: str              # the node this process runs on
    worker_name: str          # "driver" or "worker-<n>"
    current_task: Optional[object]   # the TaskSpec being run (None in the driver)
    actor_id: Optional[bytes]        # the actor this process hosts
    was_restarted: bool
    started_at: float         # events() times count from here (0.0 in a worker)

    def register_fn(self, fn_id: bytes, data: bytes) -> None: ...
    def submit(self, spec): ...
    def put(self, oid: bytes, kind: int, data, contained) -> None: ...
    def get(self, ids: list, timeout: Optional[float]) -> list: ...
    def wait(self, ids: list, num_returns: int, timeout: Optional[float]) -> list: ...
    def cancel(self, oid: bytes, force: bool, recursive: bool) -> None: ...
    def kill_actor(self, aid: bytes, no_restart: bool) -> None: ...
    def exit_actor(self) -> None: ...          # only in a worker hosting an actor
    def is_canceled(self) -> bool: ...         # only in a worker
    def call(self, op: str, *args): ...
    def drain_refs(self) -> None: ...


def set_worker_core(core) -> None:
    global _core
    _core = core


def set_head(head) -> None:
    global _core
    _core = head


def peek():
    """The current core, or None if the runtime is not started."""
    return _core


_auto_init = None     # set by api.py at import: starts a runtime with defaults


class Observer:
    """What the API reports as it is used; these do nothing.

    An add-on replaces :data:`observer` at import (``util/_teach.py``, the teaching
    warnings), so the core calls it without importing it.
    """

    def on_submit(self, core, name, returns, args, kwargs) -> None: ...
    def on_get(self, core, ids) -> None: ...
    def on_wait(self, core, refs, ready, num_returns=1) -> None: ...
    def on_pickled_function(self, name, size, kind="function") -> None: ...


observer = Observer()


def set_auto_init(start) -> None:
    """Register ``start() -> core`` (api.py does; this module imports nothing of minirt)."""
    global _auto_init
    _auto_init = start


def current():
    """The current core, starting a runtime with defaults if there is none (as Ray does)."""
    core = _core
    if core is None:
        core = _auto_init()
    return core
