"""Helpers built on the core API: a pool of actors, and a multiprocessing-style Pool.

Lesson: lessons/06_actors_revisited.ipynb.
"""

from .actor_pool import ActorPool

__all__ = ["ActorPool"]
