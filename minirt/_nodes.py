"""Simulated nodes joining and leaving a running head (``cluster_utils.Cluster``).

A node is a slice of the head: CPUs and custom resources, a worker pool and
an object store directory (see ``_scheduler._Node``). ``add_node`` appends
one to a running head; ``remove_node`` makes one die the way a machine does::

    remove_node(n):  n.alive = False      -> the scheduler places nothing more there
                     objects whose only copy was on n -> stored as ObjectLostError
                     n's store directory deleted
                     n's workers SIGKILLed -> their tasks are retried elsewhere
                                              (max_retries), their actors restart
                                              elsewhere (max_restarts) or die

Nodes keep their index for life (a dead one stays in ``head.nodes`` with
``alive = False``), so every ``worker.node`` / ``obj.locs`` index stays valid.
The head node (index 0, where the driver lives) cannot be removed.
Used as a mixin of :class:`~minirt._head.Head`, always under the head's lock.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from ._serial import FILE, INLINE, error_bytes


class NodeSpec(NamedTuple):
    """What one simulated node has: its id, resources (``CPU`` included) and store size."""

    node_id: str
    resources: dict
    object_store_memory: int


class _Nodes:
    """Mixin: nodes added to and removed from a running head."""

    def _make_node(self, spec: NodeSpec):
        from ._scheduler import _Node
        from ._store import _NodeStore
        i = len(self.nodes)
        store = _NodeStore(i, os.path.join(self.shm_root, f"n{i}"),
                           os.path.join(self.session_dir, "spill", f"n{i}"),
                           spec.object_store_memory)
        total = {k: float(v) for k, v in spec.resources.items()}
        node = _Node(i, spec.node_id, total, store)
        self.nodes.append(node)
        return node

    def _update_max_node(self) -> None:
        live = [n for n in self.nodes if n.alive]
        self.max_node.clear()
        for n in live:
            for k, v in n.total.items():
                self.max_node[k] = max(self.max_node.get(k, 0.0), v)

    def add_node(self, spec: NodeSpec) -> int:
        """Add a node to the running head; return its index."""
        with self._lock:
            self._check_open()
            node = self._make_node(spec)
            self._update_max_node()
            self._event("node_added", node=node.index, node_id=spec.node_id)
            node.idle.append(self._spawn(node))
            self._prestart = True          # warm the rest up when idle
            self._schedule()               # tasks waiting for room may fit now
        self._wake()
        return node.index

    def remove_node(self, node_id: str) -> None:
        """Kill a node as if its machine died (see the module docstring)."""
        with self._lock:
            self._check_open()
            node = next((n for n in self.nodes if n.node_id == node_id and n.alive), None)
            if node is None:
                raise ValueError(f"no live node with id {node_id!r} in this runtime")
            if node.index == 0:
                raise ValueError("the head node cannot be removed: the driver lives there "
                                 "(call minirt.shutdown() to stop everything)")
            node.alive = False
            self._update_max_node()
            self._event("node_removed", node=node.index, node_id=node_id)
            self._lose_objects(node.index)
            node.store.clear()
            workers = list(node.workers)
            for w in workers:
                try:
                    w.proc.kill()
                except Exception:   # noqa: BLE001 - already gone
                    pass
            for w in workers:
                w.proc.join(2)
                # retries and actor restarts happen here (exit status: None if unknown)
                self._on_worker_death(w, w.proc.exitcode)
            node.idle.clear()
            self._fail_unschedulable(node)
            self._schedule()
        self._wake()

    def _fail_unschedulable(self, removed) -> None:
        """Fail what no live node could ever run now, rather than let its callers wait forever.

        (minirt refuses such tasks at submission too; Ray would keep them pending.)
        """
        from .exceptions import ActorDiedError, TaskUnschedulableError
        live = [n for n in self.nodes if n.alive]

        def feasible(req):
            return any(all(n.total.get(k, 0.0) + 1e-9 >= v for k, v in req.items())
                       for n in live)
        why = (f"node {removed.index} ({removed.node_id[:8]}...) was removed and no live node "
               "has {req}; add_node() one that has, before submitting")
        for task in list(self.tasks.values()):
            spec = task.spec
            if task.done or task.worker is not None or feasible(spec.resources):
                continue
            if spec.kind == "task":
                self._fail(task, TaskUnschedulableError(
                    f"task {spec.name} cannot run: " + why.format(req=spec.resources)))
            elif spec.kind == "actor":
                actor = self.actors.get(spec.actor_id)
                if actor is not None and actor.state != "DEAD":
                    self._actor_dead(actor, ActorDiedError(
                        f"the actor {actor.class_name} cannot be placed: "
                        + why.format(req=spec.resources)))

    def _lose_objects(self, index: int) -> None:
        """Objects whose only copy was on node ``index`` become ObjectLostError values."""
        from .exceptions import ObjectLostError
        lost = []
        for oid, obj in self.objects.items():
            if not obj.ready or obj.kind != FILE or index not in obj.locs:
                continue
            obj.locs = tuple(n for n in obj.locs if n != index)
            if obj.locs:
                continue
            err = ObjectLostError(
                f"object {oid.hex()} is lost: its only copy was on node {index} "
                f"({self.nodes[index].node_id[:8]}...), which was removed. minirt does not "
                "rebuild lost objects from their tasks; re-run the task that made it")
            obj.kind, obj.data, obj.size, obj.is_error = INLINE, error_bytes(err), 0, True
            for c in obj.contained:
                self.table.decr(c)
            obj.contained = ()
            lost.append(oid)
        if not lost:
            return
        lost_set = set(lost)
        self._event("objects_lost", node=index, objects=len(lost))
        # Tasks already queued with a dependency that is now an error: fail them as
        # dependents of a failed task are failed (they never run).
        queued = [t for q in self.ready.values() for t in q]
        queued += [t for a in self.actors.values() for t in a.order]
        for task in queued:
            bad = next((oid for oid in task.spec.deps if oid in lost_set), None)
            if bad is not None and not task.done:
                obj = self.objects[bad]
                self._finish(task, [(r, 0, obj.data, True, ()) for r in task.spec.returns])

    def _node_for_restart(self, actor, index: int):
        """The node to restart ``actor`` on: its own if alive, else a live one with room."""
        node = self.nodes[index]
        if node.alive:
            return node
        hold = actor.opts.get("hold", {})
        for n in self.nodes:
            if n.alive and n.fits(hold):
                self._release(actor)
                n.ledger.acquire(actor, hold)
                return n
        return None
