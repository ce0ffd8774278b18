"""Helpers built on the core API: a pool of actors, a shared queue, a multiprocessing-style
Pool, ``state``, Ray's state API (``list_tasks``, ``list_actors``, ``summarize_tasks``...),
progress bars over refs and a live view of the runtime for notebooks.

Lessons: lessons/06_actors_revisited.ipynb (ActorPool), lessons/01_tasks.ipynb and
lessons/05_tasks_revisited.ipynb (progress, TaskStream).
"""

from . import queue, state
from .actor_pool import ActorPool
from .progress import ProgressBar, progress

__all__ = ["ActorPool", "queue", "state", "progress", "ProgressBar", "TaskStream", "warnings",
           "debug"]


def __getattr__(name):
    # Imported on first use: the live view needs Bokeh, which a plain script may not.
    if name == "TaskStream":
        from .task_stream import TaskStream
        return TaskStream
    if name == "debug":         # rerun() (post-mortem re-runs of failed tasks)
        import importlib           # (``from . import debug`` would come back here)
        return importlib.import_module(f"{__name__}.debug")
    if name == "warnings":      # the name would shadow the standard module inside this package
        from . import warnings
        return warnings
    raise AttributeError(f"module 'minirt.util' has no attribute {name!r}")
