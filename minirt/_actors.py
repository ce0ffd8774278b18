"""Actors on the head's side: creation, ordered calls, death and restarts.

An actor is a worker process of its own that keeps an instance of the user's
class. The head keeps, per actor, the calls in submission order and sends
each one when its arguments are ready and every earlier call has been sent,
so one caller's calls run in the order they were made::

    Counter.remote() --> placed (a node with a CPU) --> forked --> __init__ ran
                                                                    | actor_ready
    c.incr.remote() --> order queue --(args ready, in order)--> sent --> done
                                                                    |
    process died --> restarts left?  yes: fork a new worker, re-run __init__
                                          with the original arguments, resend
                                          interrupted calls if max_task_retries
                                     no:  every queued and later call raises
                                          ActorDiedError

By Ray's rule an actor without ``num_cpus`` is placed on a node that has a
CPU, busy or not, and holds none while alive, so five actors fit on two CPUs
and start even while tasks hold every CPU; with ``num_cpus`` it waits for
and holds that many. When its last
handle is gone (and it is not detached) the actor exits after its queued
calls. The actor part plugs into the scheduler through two
:class:`~minirt._scheduler.Kind` hooks: ``"actor"`` (a creation, placed like
a task but on a worker of its own) and ``"call"`` (queued here, in order,
never placed), in ``_actor_hooks.py`` with the actor's record. It also counts the references to actor handles (the object
table hands it the ids it does not own). Always used under the head's lock.
"""

from __future__ import annotations

import os
import signal

from ._actor_hooks import ALIVE, DEAD, PENDING, RESTARTING, Actor, ActorNames, Call, Creation
from ._pool import describe_exit
from ._serial import INLINE
from ._tasks import needed, retries_left
from .exceptions import ActorDiedError

_PIPE_BUDGET = 64 * 1024      # bytes of calls in flight to a busy actor (see _pump_actor)

class Actors:
    """The actor table, named actors, ordered calls, restarts (see the module docstring)."""

    def __init__(self, sched):
        self.sched = sched
        self.table = sched.table
        self.nodes = sched.nodes
        self.pool = sched.pool
        self.actors: dict[bytes, Actor] = {}
        self.names = ActorNames()
        sched.kinds["actor"] = Creation(sched, self)
        sched.kinds["call"] = Call(sched, self)

    def create(self, spec, from_worker=None):
        """Register and queue an actor's creation. Returns the existing id for get_if_exists."""
        opts = spec.actor_opts
        existing = self.names.claim(spec.actor_id, opts,
                                    lambda aid: self.actors[aid].state != DEAD)
        if existing is not None:
            return existing
        actor = Actor(spec.actor_id, None, opts)
        actor.refs += self.table.pop_refs(spec.actor_id)   # handle refs counted before creation
        self.actors[spec.actor_id] = actor
        self.sched.submit(spec, from_worker)      # sets actor.creation (_Creation.submitted)
        return None

    def send_create(self, task, worker, args, deps) -> None:
        spec = task.spec
        actor = self.actors[spec.actor_id]
        if actor.state == DEAD:                     # killed while waiting to be placed
            self.sched.release(task)
            self.pool.retire(worker)
            return
        actor.worker = worker
        worker.actor = actor
        worker.fns.add(spec.fn_id)
        self.sched.send(worker, ("actor", None, spec, self.sched.fns[spec.fn_id], args, deps))

    def on_ready(self, worker, aid, error, t0, t1) -> None:
        actor = self.actors.get(aid)
        if actor is None or actor.worker is not worker:
            return
        task = actor.creation
        sched = self.sched
        sched.record(task, worker, t0, t1)
        if actor.state == PENDING:                  # first start: swap placement for holding
            sched.release(task)
            self.nodes[worker.node].ledger.acquire(actor, actor.opts.get("hold", {}))
            sched.schedule()                        # the placement CPU is free for others
        if error is not None:                       # the worker sends the error as text
            self.dead(actor, ActorDiedError(
                f"the actor {actor.class_name} could not be created: its __init__ raised\n{error}"))
            self.pool.retire(worker)
            return
        actor.state = ALIVE
        sched.event("actor_alive", actor=actor.class_name, id=aid, node=worker.node,
                    worker=worker.wid, restarts=actor.restarts)
        self.pump(actor)
        self._maybe_exit(actor)

    # --- calls --------------------------------------------------------------------
    def enqueue_call(self, task) -> None:
        actor = self.actors.get(task.spec.actor_id)
        if actor is None or actor.state == DEAD:
            self.sched.fail(task, self._dead_error(actor, task.spec))
            return
        task.waiting = True                         # until its arguments are ready
        actor.order.append(task)

    def pump(self, actor) -> None:
        """Send calls in order while they are ready and the pipe has room.

        A busy actor does not read its pipe; if the head kept writing it
        would block while holding the lock. So at most ``_PIPE_BUDGET``
        bytes of calls are in flight unless the actor is idle.
        """
        if actor.state != ALIVE:
            return
        w = actor.worker
        sched = self.sched
        while actor.order:
            task = actor.order[0]
            if task.done:
                actor.order.popleft()
                continue
            if task.waiting:
                return
            spec = task.spec
            if not self.table.fetch(needed(spec), w.node, lambda: self.pump(actor)):
                return      # its arguments are being copied to the actor's node: resume then
            try:
                deps, args = sched.descriptors(spec, w.node)
            except Exception as e:
                actor.order.popleft()
                sched.fail(task, e)
                continue
            size = 512 + sum(len(d[1]) for d in deps if d[0] == INLINE)
            size += len(args[1]) if args[0] == INLINE else 0
            if actor.inflight and w.inflight_bytes + size > _PIPE_BUDGET:
                return
            if not sched.send(w, ("call", None, spec, args, deps)):
                return      # the process is gone: the call was never delivered, keep it queued
            actor.order.popleft()
            actor.inflight[spec.tid] = (task, size)
            w.inflight_bytes += size
            task.worker = w

    def call_done(self, worker, task, results, retry) -> None:
        actor = worker.actor
        _, size = actor.inflight.pop(task.spec.tid, (None, 0))
        worker.inflight_bytes -= size
        if retry and retries_left(task):
            task.attempt += 1
            actor.order.appendleft(task)
        else:
            self.sched.finish(task, results)
        self.pump(actor)
        self._maybe_exit(actor)

    def queued(self):
        """Every call waiting to be sent, of every actor."""
        return [t for a in self.actors.values() for t in a.order]

    # --- handles and endings ---------------------------------------------------------
    def count_handle(self, aid, delta) -> bool:
        """Count a reference to an actor handle (the object table's ``count_other``)."""
        actor = self.actors.get(aid)
        if actor is None:
            return False
        actor.refs += delta
        if actor.refs <= 0 and not actor.detached:
            self._maybe_exit(actor)
        return True

    def _maybe_exit(self, actor) -> None:
        if actor.refs > 0 or actor.detached or actor.state != ALIVE:
            return
        if actor.order or actor.inflight:
            return
        actor.no_restart = True
        self.dead(actor, None)
        self.pool.retire(actor.worker)

    def kill(self, aid, no_restart) -> None:
        actor = self.actors.get(aid)
        if actor is None or actor.state == DEAD:
            return
        if no_restart:
            actor.no_restart = True
        self.sched.event("kill", actor=actor.class_name, id=aid, no_restart=no_restart)
        if actor.worker is None or actor.worker.dead:
            if no_restart:
                self.dead(actor, ActorDiedError(
                    f"the actor {actor.class_name} was killed with minirt.kill()"))
            return
        actor.worker.exit_reason = "killed with minirt.kill()"      # for head.log
        try:                            # death is handled when its pidfd fires
            os.kill(actor.worker.pid, signal.SIGKILL)
        except OSError:
            pass

    def exiting(self, aid) -> None:
        """The actor called ``exit_actor()``: its process exits now; no restart (as Ray)."""
        actor = self.actors.get(aid)
        if actor is not None and actor.state != DEAD:
            actor.no_restart = True
            actor.exit_reason = "it called exit_actor()"
            self.sched.event("exit_actor", actor=actor.class_name, id=aid)

    def worker_died(self, worker, code) -> None:
        """The actor's process is gone: restart it, or declare it dead."""
        actor = worker.actor
        if actor.state == DEAD:
            return
        limit = actor.opts.get("max_restarts", 0)
        oom = worker.exit_error           # set by the memory monitor before it killed it
        how = f"was {worker.exit_reason}" if oom is not None else f"died ({describe_exit(code)})"
        if actor.no_restart or not (limit < 0 or actor.restarts < limit):
            why = (actor.exit_reason or "it was killed with minirt.kill()" if actor.no_restart else
                   f"its process (pid {worker.pid}) {how} "
                   f"and max_restarts={limit} allows no more restarts")
            self.dead(actor, _died(f"the actor {actor.class_name} is dead: {why}", oom))
            return
        actor.restarts += 1
        actor.state = RESTARTING
        retry_limit = actor.opts.get("max_task_retries", 0)
        for task, _ in reversed(list(actor.inflight.values())):
            if retries_left(task):
                task.attempt += 1
                actor.order.appendleft(task)
            else:
                self.sched.fail(task, _died(
                    f"the actor {actor.class_name} died while running {task.spec.name} "
                    f"(pid {worker.pid}, {describe_exit(code) if oom is None else how}); it is "
                    f"restarting, but this call is not retried (max_task_retries={retry_limit})",
                    oom))
        actor.inflight.clear()
        self.sched.event("actor_restart", actor=actor.class_name, id=actor.aid,
                         restarts=actor.restarts)
        node = self._node_for_restart(actor, worker.node)   # another one if it was removed
        if node is None:
            self.dead(actor, ActorDiedError(
                f"the actor {actor.class_name} died with its node and no live node has room "
                "to restart it"))
            return
        self.pool.spawn(node, lambda new, error: self._restart(actor, node, new, error))

    def _restart(self, actor, node, new, error) -> None:
        """A new worker for ``actor`` is forked: re-create it there once its creation
        arguments are on that node (copied without the lock, see ObjectTable.fetch)."""
        if error is not None:
            if actor.state != DEAD:
                self.dead(actor, ActorDiedError(
                    f"the actor {actor.class_name} died and could not be restarted: {error}"))
            return
        creation = actor.creation
        if actor.state == DEAD:                   # killed meanwhile
            if new.actor is None:
                self.pool.retire(new)
            return
        if new.actor is None:                     # its death restarts the actor again
            new.actor, actor.worker = actor, new
        elif actor.worker is not new:             # it died while the arguments were copied
            return
        if not self.table.fetch(needed(creation.spec), node.index,
                                lambda: self._restart(actor, node, new, None)):
            return
        creation.spec.actor_opts = dict(creation.spec.actor_opts, restarted=True)
        try:
            deps, args = self.sched.descriptors(creation.spec, node.index)
        except Exception as e:                     # the store could not take a copy
            self.pool.retire(new)
            self.dead(actor, ActorDiedError(
                f"the actor {actor.class_name} died and could not be restarted: {e}"))
            return
        self.send_create(creation, new, args, deps)

    def _node_for_restart(self, actor, index: int):
        """The node to restart ``actor`` on: its own if alive, else a live one with room."""
        node = self.nodes[index]
        if node.alive:
            return node
        hold = actor.opts.get("hold", {})
        for n in self.nodes:
            if n.fits(hold):
                self.sched.release(actor)
                n.ledger.acquire(actor, hold)
                return n
        return None

    def dead(self, actor, error) -> None:
        """Declare ``actor`` dead (``error`` None: it exited normally): fail its calls."""
        sched = self.sched
        actor.state = DEAD
        actor.error = error
        err = error or ActorDiedError(f"the actor {actor.class_name} has exited")
        for task, _ in list(actor.inflight.values()):
            sched.fail(task, err)
        actor.inflight.clear()
        while actor.order:
            sched.fail(actor.order.popleft(), err)
        self.names.release(actor.aid, actor.namespace, actor.name)
        creation = actor.creation
        if creation is not None and not creation.done:
            sched.release(creation)
            sched.finish(creation, [])
        sched.release(actor)
        sched.event("actor_dead", actor=actor.class_name, id=actor.aid)
        sched.schedule()

    @staticmethod
    def _dead_error(actor, spec):
        if actor is not None and actor.error is not None:
            return actor.error
        return ActorDiedError(f"cannot run {spec.name}: the actor is dead")

    def lookup(self, name, namespace):
        aid = self.names.get(name, namespace)
        if aid is None:
            return None
        return (aid, self.actors[aid].meta)


def _died(message: str, oom) -> ActorDiedError:
    """An ActorDiedError; if the memory monitor killed the actor, its ``cause`` is the
    OutOfMemoryError and the message ends with it."""
    if oom is None:
        return ActorDiedError(message)
    err = ActorDiedError(f"{message}\n{oom}")
    err.cause = oom         # an attribute (not __cause__): it survives pickling
    return err
