"""``ActorPool``: share work among a fixed set of actors.

Each actor works on one item at a time; the pool hands the next item to
whichever actor is free. ``map`` yields results in input order,
``map_unordered`` as they finish::

    items --submit--> [free actors] --fn(actor, item)--> refs --get_next--> results
                  \\-> backlog while every actor is busy

Lesson: lessons/06_actors_revisited.ipynb.
"""

from __future__ import annotations

import collections

from .. import api
from ..actor import ActorHandle


class ActorPool:
    """Hand work to a set of actors, one item per actor at a time.

    Args:
        actors: a non-empty list of actor handles.

    Example:
        >>> @minirt.remote
        ... class Doubler:
        ...     def double(self, v):
        ...         return 2 * v
        >>> pool = ActorPool([Doubler.remote(), Doubler.remote()])
        >>> list(pool.map(lambda a, v: a.double.remote(v), [1, 2, 3]))
        [2, 4, 6]
    """

    def __init__(self, actors):
        actors = list(actors)
        if not all(isinstance(a, ActorHandle) for a in actors):
            raise TypeError("ActorPool takes a list of actor handles (from MyActor.remote())")
        self._idle = actors
        self._future_to_actor: dict = {}      # ref -> (index, actor)
        self._index_to_future: dict = {}      # submission index -> ref
        self._next_task_index = 0
        self._next_return_index = 0
        self._pending = collections.deque()   # (fn, value) waiting for a free actor

    def submit(self, fn, value) -> None:
        """Run ``fn(actor, value)`` (which must return an ObjectRef) on a free actor, or queue it."""
        if not callable(fn):
            raise TypeError("fn must be callable as fn(actor, value) and return an ObjectRef")
        if self._idle:
            actor = self._idle.pop()
            ref = fn(actor, value)
            self._future_to_actor[ref] = (self._next_task_index, actor)
            self._index_to_future[self._next_task_index] = ref
            self._next_task_index += 1
        else:
            self._pending.append((fn, value))

    def has_next(self) -> bool:
        """True if some submitted work has a result still to be read."""
        return bool(self._future_to_actor) or bool(self._pending)

    def has_free(self) -> bool:
        """True if an actor is idle and nothing is queued."""
        return bool(self._idle) and not self._pending

    def _return_actor(self, actor) -> None:
        self._idle.append(actor)
        if self._pending:
            self.submit(*self._pending.popleft())

    def get_next(self, timeout=None):
        """The next result in submission order.

        Raises:
            StopIteration: nothing is pending.
            TimeoutError: not ready within ``timeout`` seconds.
        """
        if not self.has_next():
            raise StopIteration("no more results to get")
        if self._next_return_index >= self._next_task_index:
            raise ValueError("the next result's task has not been submitted yet (it is queued "
                             "behind busy actors); use get_next_unordered() instead")
        ref = self._index_to_future[self._next_return_index]
        if timeout is not None:
            ready, _ = api.wait([ref], timeout=timeout)
            if not ready:
                raise TimeoutError("timed out waiting for the next result")
        self._next_return_index += 1
        return self._take(ref)

    def get_next_unordered(self, timeout=None):
        """The next result to finish, whatever its position.

        Raises:
            StopIteration: nothing is pending.
            TimeoutError: none finished within ``timeout`` seconds.
        """
        if not self.has_next():
            raise StopIteration("no more results to get")
        ready, _ = api.wait(list(self._future_to_actor), num_returns=1, timeout=timeout)
        if not ready:
            raise TimeoutError("timed out waiting for a result")
        ref = ready[0]
        index = self._future_to_actor[ref][0]
        self._next_return_index = max(self._next_return_index, index + 1)
        return self._take(ref)

    def _take(self, ref):
        """Forget a finished ref, free its actor for queued work, return its value."""
        index, actor = self._future_to_actor.pop(ref)
        self._index_to_future.pop(index, None)
        self._return_actor(actor)
        return api.get(ref)

    def map(self, fn, values):
        """Yield ``fn(actor, v)``'s results for each value, in input order."""
        while self.has_next():          # finish leftovers so order stays meaningful
            try:
                self.get_next_unordered()
            except StopIteration:
                break
        for v in values:
            self.submit(fn, v)
        while self.has_next():
            yield self.get_next()

    def map_unordered(self, fn, values):
        """Yield ``fn(actor, v)``'s results as they finish."""
        while self.has_next():
            try:
                self.get_next_unordered()
            except StopIteration:
                break
        for v in values:
            self.submit(fn, v)
        while self.has_next():
            yield self.get_next_unordered()

    def pop_idle(self):
        """Remove and return an idle actor, or None if all are busy."""
        return self._idle.pop() if self.has_free() else None

    def push(self, actor) -> None:
        """Add an actor to the pool (it must not already be in it)."""
        busy = [a for _, a in self._future_to_actor.values()]
        if actor in self._idle or actor in busy:
            raise ValueError("that actor is already in the pool")
        self._return_actor(actor)
