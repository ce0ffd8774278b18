"""Helpers built on the core API: a pool of actors, a shared queue, a multiprocessing-style
Pool, and ``state``, Ray's state API (``list_tasks``, ``list_actors``, ``summarize_tasks``...).

Lesson: lessons/06_actors_revisited.ipynb.
"""

from . import queue, state
from .actor_pool import ActorPool

__all__ = ["ActorPool", "queue", "state"]
