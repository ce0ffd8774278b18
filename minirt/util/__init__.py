"""Helpers built on the core API: a pool of actors, a shared queue, a multiprocessing-style Pool.

Lesson: lessons/06_actors_revisited.ipynb.
"""

from . import queue
from .actor_pool import ActorPool

__all__ = ["ActorPool", "queue"]
