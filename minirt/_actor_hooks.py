"""An actor's record on the head, and how actors plug into the scheduler.

:class:`Actor` is what the head keeps per actor (its state, its worker,
its calls in order...); :class:`ActorNames` maps names to actors (local
mode uses it too). :class:`Creation` and :class:`Call` are the
scheduler's :class:`~minirt._tasks.Kind` hooks for an actor's creation
(placed like a task, but on a worker of its own) and its method calls
(never placed: queued by their actor, in order); both hand the work to the
actor part (``_actors.py``)::

    Scheduler --kinds["actor"]--> Creation --> Actors.send_create / dead
              --kinds["call"]---> Call -----> Actors.enqueue_call / pump / call_done

Always used under the head's lock.
"""

from __future__ import annotations

import collections

from ._tasks import Kind, cancelled_error
from .exceptions import ActorAlreadyExistsError, ActorDiedError

PENDING, ALIVE, RESTARTING, DEAD = "PENDING", "ALIVE", "RESTARTING", "DEAD"


class ActorNames:
    """Named actors, for the head and for local mode: ``(namespace, name) -> actor id``,
    one live actor per name."""

    def __init__(self):
        self._ids: dict[tuple, bytes] = {}

    def claim(self, aid, opts, is_live):
        """Give ``opts["name"]`` to ``aid``; return the live owner's id for ``get_if_exists``.

        Raises:
            ActorAlreadyExistsError: the name belongs to an actor for which ``is_live(id)``.
        """
        key = (opts.get("namespace"), opts.get("name"))
        if key[1] is None:
            return None
        existing = self._ids.get(key)
        if existing is not None and is_live(existing):
            if opts.get("get_if_exists"):
                return existing
            raise ActorAlreadyExistsError(
                f"an actor named {key[1]!r} already exists in namespace {key[0]!r}; "
                "choose another name, use get_if_exists=True, or minirt.get_actor() it")
        self._ids[key] = aid
        return None

    def put(self, aid, namespace, name) -> None:
        if name is not None:
            self._ids[(namespace, name)] = aid

    def release(self, aid, namespace, name) -> None:
        """Free the name, if ``aid`` still holds it."""
        if name is not None and self._ids.get((namespace, name)) == aid:
            del self._ids[(namespace, name)]

    def get(self, name, namespace):
        return self._ids.get((namespace, name))

    def clear(self) -> None:
        self._ids.clear()


class Actor:
    """The head's record of one actor."""

    __slots__ = ("aid", "creation", "state", "worker", "order", "inflight", "refs",
                 "restarts", "name", "namespace", "detached", "no_restart", "error",
                 "meta", "opts", "class_name", "exit_reason")

    def __init__(self, aid, creation, opts):
        self.aid = aid
        self.creation = creation          # the creation _Task: its args stay pinned for restarts
        self.state = PENDING
        self.worker = None
        self.order: collections.deque = collections.deque()   # calls not yet sent, in order
        self.inflight: dict = {}          # tid -> (task, bytes) sent, not finished
        self.refs = 0
        self.restarts = 0
        self.opts = opts
        self.name = opts.get("name")
        self.namespace = opts.get("namespace")
        self.detached = opts.get("lifetime") == "detached"
        self.no_restart = False
        self.error = None                 # why it is dead
        self.meta = opts.get("meta")      # what a handle needs (method options)
        self.class_name = opts.get("class_name", "Actor")
        self.exit_reason = None           # set by exit_actor(): why it is gone


class Creation(Kind):
    """The scheduler's hooks for an actor's creation (``TaskSpec.kind == "actor"``)."""

    reuse_idle = False        # an actor gets a process of its own

    def check_cancel(self, task, force) -> None:
        raise ValueError("cancel() takes the ref of a task or an actor method call; "
                         "to stop an actor use kill(actor)")

    def __init__(self, sched, actors):
        super().__init__(sched)
        self.actors = actors

    def submitted(self, task) -> None:
        self.actors.actors[task.spec.actor_id].creation = task

    def start(self, task, worker, args, deps) -> None:
        self.actors.send_create(task, worker, args, deps)

    def node_minimum(self, task):
        return task.spec.actor_opts.get("node_minimum")

    def start_failed(self, task, error) -> None:   # releases the resources, finishes `task`
        actor = self.actors.actors[task.spec.actor_id]
        self.actors.dead(actor, ActorDiedError(
            f"the actor {actor.class_name} could not be started: {error}"))

    def unschedulable(self, task, why: str) -> None:
        actor = self.actors.actors.get(task.spec.actor_id)
        if actor is not None and actor.state != DEAD:
            self.actors.dead(actor, ActorDiedError(
                f"the actor {actor.class_name} cannot be placed: {why}"))


class Call(Kind):
    """The scheduler's hooks for an actor method call (``TaskSpec.kind == "call"``)."""

    def check_cancel(self, task, force) -> None:
        if force:
            raise ValueError("force=True cannot cancel an actor method call (as in Ray): it "
                             "would kill the actor; use kill(actor) for that")

    def cancel(self, task, force) -> None:
        """As in Ray: a call still queued never runs (``TaskCancelledError``); one already
        sent is the actor process's to settle (see ``WorkerCore.cancel_call``): not started
        yet or a running ``async`` call: cancelled; a running plain call runs to its end."""
        actor = self.actors.actors.get(task.spec.actor_id)
        if actor is None:
            return
        if task in actor.order:
            actor.order.remove(task)
            self.sched.fail(task, cancelled_error(task.spec))
        elif task.spec.tid in actor.inflight and actor.worker is not None:
            self.sched.send(actor.worker, ("cancel_call", None, task.spec.tid))

    def __init__(self, sched, actors):
        super().__init__(sched)
        self.actors = actors

    def submitted(self, task) -> None:
        self.actors.enqueue_call(task)

    def ready(self, task) -> None:
        task.waiting = False
        actor = self.actors.actors.get(task.spec.actor_id)
        if actor is not None:
            self.actors.pump(actor)

    def done(self, worker, task, results, retry) -> None:
        self.actors.call_done(worker, task, results, retry)

    def unschedulable(self, task, why: str) -> None:
        """Calls are never placed: their actor's creation answers for them."""
