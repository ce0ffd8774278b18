"""``get_runtime_context()``: where am I running?

Inside a task it names the node, worker and task; inside an actor also the
actor, and whether it was restarted. In the driver the task and actor are
``None``. Lesson: lessons/04_api_tour.ipynb.
"""

from __future__ import annotations

from . import _context


class RuntimeContext:
    """A snapshot of where the calling code runs."""

    def __init__(self, core):
        self._core = core

    def get_node_id(self) -> str:
        return self._core.node_id

    def get_worker_id(self) -> str:
        return self._core.worker_name

    def get_task_id(self):
        spec = self._core.current_task
        return spec.tid.hex() if spec is not None else None

    def get_actor_id(self):
        aid = self._core.actor_id
        return aid.hex() if aid is not None else None

    @property
    def namespace(self) -> str:
        return self._core.namespace

    @property
    def was_current_actor_reconstructed(self) -> bool:
        return bool(self._core.was_restarted)

    def is_canceled(self) -> bool:
        """Whether the running task was cancelled (it may catch the interrupt and look).

        Raises:
            RuntimeError: called in the driver, which runs no task.
        """
        return self._core.is_canceled()

    def get(self) -> dict:
        return {"node_id": self.get_node_id(), "worker_id": self.get_worker_id(),
                "task_id": self.get_task_id(), "actor_id": self.get_actor_id(),
                "namespace": self.namespace}


def get_runtime_context() -> RuntimeContext:
    """Describe where the caller runs.

    Example:
        >>> minirt.get_runtime_context().get_task_id() is None   # in the driver
        True
    """
    return RuntimeContext(_context.current())
