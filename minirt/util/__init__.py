"""Helpers built on the core API: a pool of actors, a multiprocessing-style Pool, and
``state``, Ray's state API (``list_tasks``, ``list_actors``, ``summarize_tasks``...).

Lesson: lessons/06_actors_revisited.ipynb.
"""

from . import state
from .actor_pool import ActorPool

__all__ = ["ActorPool", "state"]
