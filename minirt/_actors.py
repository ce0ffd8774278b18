"""Actors on the head's side: creation, ordered calls, death and restarts.

An actor is a worker process of its own that keeps an instance of the user's
class. The head keeps, per actor, the calls in submission order and sends
each one when its arguments are ready and every earlier call has been sent,
so one caller's calls run in the order they were made::

    Counter.remote() --> placed (needs 1 CPU) --> worker forked --> __init__ ran
                                                                    | actor_ready
    c.incr.remote() --> order queue --(args ready, in order)--> sent --> done
                                                                    |
    process died --> restarts left?  yes: fork a new worker, re-run __init__
                                          with the original arguments, resend
                                          interrupted calls if max_task_retries
                                     no:  every queued and later call raises
                                          ActorDiedError

By Ray's rule an actor needs 1 CPU to be *placed* but holds none while alive
(unless ``num_cpus`` is given), so five actors fit on two CPUs. When its last
handle is gone (and it is not detached) the actor exits after its queued
calls. Used as a mixin of :class:`~minirt._head.Head`, under the head's lock.
"""

from __future__ import annotations

import collections
import os
import signal

from .exceptions import ActorAlreadyExistsError, ActorDiedError

PENDING, ALIVE, RESTARTING, DEAD = "PENDING", "ALIVE", "RESTARTING", "DEAD"
_PIPE_BUDGET = 64 * 1024      # bytes of calls in flight to a busy actor (see _pump_actor)


class _Actor:
    __slots__ = ("aid", "creation", "state", "worker", "node", "order", "inflight", "refs",
                 "restarts", "name", "namespace", "detached", "no_restart", "error",
                 "meta", "opts", "class_name")

    def __init__(self, aid, creation, opts):
        self.aid = aid
        self.creation = creation          # the creation _Task: its args stay pinned for restarts
        self.state = PENDING
        self.worker = None
        self.node = None
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


class _Actors:
    """Mixin: actor table and calls."""

    def _init_actors(self) -> None:
        self.actors: dict[bytes, _Actor] = {}
        self.named: dict[tuple, bytes] = {}

    def _create_actor(self, spec, from_worker=None):
        """Register and queue an actor's creation. Returns the existing id for get_if_exists."""
        opts = spec.actor_opts
        key = (opts.get("namespace"), opts.get("name"))
        if key[1] is not None:
            existing = self.named.get(key)
            if existing is not None and self.actors[existing].state != DEAD:
                if opts.get("get_if_exists"):
                    return existing
                raise ActorAlreadyExistsError(
                    f"an actor named {key[1]!r} already exists in namespace {key[0]!r}; "
                    "choose another name, use get_if_exists=True, or minirt.get_actor() it")
            self.named[key] = spec.actor_id
        actor = _Actor(spec.actor_id, None, opts)
        actor.refs += self.table.pop_refs(spec.actor_id)   # handle refs counted before creation
        self.actors[spec.actor_id] = actor
        self._submit(spec, from_worker)      # sets actor.creation (see _Scheduler._submit)
        return None

    def _send_actor_create(self, task, worker, args, deps) -> None:
        spec = task.spec
        actor = self.actors[spec.actor_id]
        if actor.state == DEAD:                     # killed while waiting to be placed
            self._release(task)
            self._retire(worker)
            return
        actor.worker, actor.node = worker, worker.node
        worker.actor = actor
        worker.fns.add(spec.fn_id)
        self._send(worker, ("actor", None, spec, self.fns[spec.fn_id], args, deps))

    def _on_actor_ready(self, worker, aid, error, t0, t1) -> None:
        actor = self.actors.get(aid)
        if actor is None or actor.worker is not worker:
            return
        task = actor.creation
        self._record(task.spec, task, worker, t0, t1)
        if actor.state == PENDING:                  # first start: swap placement for holding
            self._release(task)
            self.nodes[worker.node].ledger.acquire(actor, actor.opts.get("hold", {}))
            self._schedule()                        # the placement CPU is free for others
        if error is not None:                       # the worker sends the error as text
            self._actor_dead(actor, ActorDiedError(
                f"the actor {actor.class_name} could not be created: its __init__ raised\n{error}"))
            self._retire(worker)
            return
        actor.state = ALIVE
        self._event("actor_alive", actor=actor.class_name, id=aid, node=worker.node,
                    worker=worker.wid, restarts=actor.restarts)
        self._pump_actor(actor)
        self._maybe_exit_actor(actor)

    # --- calls --------------------------------------------------------------------
    def _enqueue_call(self, task) -> None:
        actor = self.actors.get(task.spec.actor_id)
        if actor is None or actor.state == DEAD:
            self._fail(task, self._dead_error(actor, task.spec))
            return
        task.pending = 1                            # 1 = waiting for its arguments
        actor.order.append(task)

    def _call_ready(self, task) -> None:
        task.pending = 0
        actor = self.actors.get(task.spec.actor_id)
        if actor is not None:
            self._pump_actor(actor)

    def _pump_actor(self, actor) -> None:
        """Send calls in order while they are ready and the pipe has room.

        A busy actor does not read its pipe; if the head kept writing it
        would block while holding the lock. So at most ``_PIPE_BUDGET``
        bytes of calls are in flight unless the actor is idle.
        """
        if actor.state != ALIVE:
            return
        w = actor.worker
        while actor.order:
            task = actor.order[0]
            if task.done:
                actor.order.popleft()
                continue
            if task.pending:
                return
            spec = task.spec
            try:
                deps = [self.table.descriptor(oid, w.node) for oid in spec.deps]
                args = self._args_descriptor(spec, w.node)
            except Exception as e:
                actor.order.popleft()
                self._fail(task, e)
                continue
            size = 512 + sum(len(d[1]) for d in deps if d[0] == 0) + (len(args[1]) if args[0] == 0 else 0)
            if actor.inflight and w.inflight_bytes + size > _PIPE_BUDGET:
                return
            if not self._send(w, ("call", None, spec, args, deps)):
                return      # the process is gone: the call was never delivered, keep it queued
            actor.order.popleft()
            actor.inflight[spec.tid] = (task, size)
            w.inflight_bytes += size
            task.worker, task.node = w, None

    def _call_done(self, worker, task, results, retry) -> None:
        actor = worker.actor
        _, size = actor.inflight.pop(task.spec.tid, (None, 0))
        worker.inflight_bytes -= size
        if retry and self._retries_left(task):
            task.attempt += 1
            actor.order.appendleft(task)
        else:
            self._finish(task, results)
        self._pump_actor(actor)
        self._maybe_exit_actor(actor)

    # --- handles and endings ---------------------------------------------------------
    def _count_handle(self, aid, delta) -> bool:
        """Count a reference to an actor handle (the object table's ``count_other``)."""
        actor = self.actors.get(aid)
        if actor is None:
            return False
        actor.refs += delta
        if actor.refs <= 0 and not actor.detached:
            self._maybe_exit_actor(actor)
        return True

    def _maybe_exit_actor(self, actor) -> None:
        if actor.refs > 0 or actor.detached or actor.state != ALIVE:
            return
        if actor.order or actor.inflight:
            return
        actor.no_restart = True
        self._actor_dead(actor, None)
        self._retire(actor.worker)

    def _kill_actor(self, aid, no_restart) -> None:
        actor = self.actors.get(aid)
        if actor is None or actor.state == DEAD:
            return
        if no_restart:
            actor.no_restart = True
        self._event("kill", actor=actor.class_name, id=aid, no_restart=no_restart)
        if actor.worker is None or actor.worker.dead:
            if no_restart:
                self._actor_dead(actor, ActorDiedError(
                    f"the actor {actor.class_name} was killed with minirt.kill()"))
            return
        try:                            # death is handled when its pidfd fires
            os.kill(actor.worker.pid, signal.SIGKILL)
        except OSError:
            pass

    def _actor_died(self, actor, worker, code) -> None:
        """The actor's process is gone: restart it, or declare it dead."""
        if actor.state == DEAD:
            return
        from ._scheduler import _describe_exit
        limit = actor.opts.get("max_restarts", 0)
        if actor.no_restart or not (limit < 0 or actor.restarts < limit):
            why = ("it was killed with minirt.kill()" if actor.no_restart else
                   f"its process (pid {worker.pid}) died ({_describe_exit(code)}) "
                   f"and max_restarts={limit} allows no more restarts")
            self._actor_dead(actor, ActorDiedError(f"the actor {actor.class_name} is dead: {why}"))
            return
        actor.restarts += 1
        actor.state = RESTARTING
        retry_limit = actor.opts.get("max_task_retries", 0)
        for task, _ in reversed(list(actor.inflight.values())):
            if task.spec.max_retries < 0 or task.attempt < task.spec.max_retries:
                task.attempt += 1
                actor.order.appendleft(task)
            else:
                self._fail(task, ActorDiedError(
                    f"the actor {actor.class_name} died while running {task.spec.name} "
                    f"(pid {worker.pid}, {_describe_exit(code)}); it is restarting, but this "
                    f"call is not retried (max_task_retries={retry_limit})"))
        actor.inflight.clear()
        self._event("actor_restart", actor=actor.class_name, id=actor.aid,
                    restarts=actor.restarts)
        node = self._node_for_restart(actor, worker.node)   # another one if it was removed
        if node is None:
            self._actor_dead(actor, ActorDiedError(
                f"the actor {actor.class_name} died with its node and no live node has room "
                "to restart it"))
            return
        try:
            new = self._spawn(node)
        except Exception as e:
            self._actor_dead(actor, ActorDiedError(
                f"the actor {actor.class_name} died and could not be restarted: {e}"))
            return
        creation = actor.creation
        creation.spec.actor_opts = dict(creation.spec.actor_opts, restarted=True)
        deps = [self.table.descriptor(oid, node.index) for oid in creation.spec.deps]
        args = self._args_descriptor(creation.spec, node.index)
        self._send_actor_create(creation, new, args, deps)

    def _actor_dead(self, actor, error) -> None:
        actor.state = DEAD
        actor.error = error
        err = error or ActorDiedError(f"the actor {actor.class_name} has exited")
        for task, _ in list(actor.inflight.values()):
            self._fail(task, err)
        actor.inflight.clear()
        while actor.order:
            self._fail(actor.order.popleft(), err)
        if actor.name is not None and self.named.get((actor.namespace, actor.name)) == actor.aid:
            del self.named[(actor.namespace, actor.name)]
        creation = actor.creation
        if creation is not None and not creation.done:
            self._release(creation)
            self._finish(creation, [])
        self._release(actor)
        self._event("actor_dead", actor=actor.class_name, id=actor.aid)
        self._schedule()

    def _dead_error(self, actor, spec):
        if actor is not None and actor.error is not None:
            return actor.error
        return ActorDiedError(f"cannot run {spec.name}: the actor is dead")

    def _lookup_actor(self, name, namespace):
        aid = self.named.get((namespace, name))
        if aid is None:
            return None
        actor = self.actors[aid]
        return (aid, actor.meta)
