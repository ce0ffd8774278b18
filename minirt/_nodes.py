"""Simulated nodes: what one has, and nodes joining and leaving a running head.

A node is a slice of the head: a resource ledger (``_ledger.py``), a worker
pool slot (its idle and live workers) and an object store directory
(``_store.py``). ``cluster_utils.Cluster`` adds and removes nodes at run
time; a removed node dies the way a machine does::

    remove(n):  n.alive = False      -> placement skips it
                objects whose only copy was on n -> stored as ObjectLostError
                n's store directory deleted
                n's workers SIGKILLed -> their tasks are retried elsewhere
                                         (max_retries), their actors restart
                                         elsewhere (max_restarts) or die

Nodes keep their index for life (a dead one stays in the list with
``alive = False``), so every ``worker.node`` / ``obj.locs`` index stays valid.
The head node (index 0, where the driver lives) cannot be removed.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from ._ledger import Ledger
from ._protocol import Result
from ._serial import FILE, INLINE, error_bytes
from ._store import NodeStore
from .exceptions import ObjectLostError


class NodeSpec(NamedTuple):
    """What one simulated node has: its id, resources (``CPU`` included) and store size."""

    node_id: str
    resources: dict
    object_store_memory: int


def default_memory(store_bytes: int) -> float:
    """A node's logical ``memory`` resource when none is given: 70% of the RAM less its store.

    As in Ray, ``memory`` is bookkeeping for ``@remote(memory=...)`` requests
    (bytes), not a limit on what a worker really uses.
    """
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        ram = 8 << 30
    return float(max(int(ram * 0.7) - store_bytes, 0))


class Node:
    """One (simulated) node: its resource ledger, workers and object store."""

    __slots__ = ("index", "node_id", "ledger", "idle", "workers", "store", "alive")

    def __init__(self, index: int, spec: NodeSpec, shm_root: str, session_dir: str):
        self.index = index
        self.node_id = spec.node_id
        self.ledger = Ledger({"memory": default_memory(spec.object_store_memory),
                              **spec.resources})
        self.idle: list = []          # workers waiting for a task
        self.workers: set = set()     # every live worker of the node
        self.store = NodeStore(index, os.path.join(shm_root, f"n{index}"),
                               os.path.join(session_dir, "spill", f"n{index}"),
                               spec.object_store_memory)
        self.alive = True             # False once removed

    @property
    def total(self) -> dict:
        return self.ledger.total

    @property
    def avail(self) -> dict:
        return self.ledger.avail

    def fits(self, req) -> bool:
        return self.alive and self.ledger.fits(req)


def largest_node(nodes) -> dict:
    """Per resource, the most any live node has (feasibility is judged against it)."""
    out: dict[str, float] = {}
    for n in nodes:
        if n.alive:
            for k, v in n.total.items():
                out[k] = max(out.get(k, 0.0), v)
    return out


def resources(nodes, available: bool) -> dict:
    """``cluster_resources()`` (or ``available_resources()``) over the live nodes."""
    out: dict[str, float] = {}
    for n in nodes:
        if not n.alive:
            continue
        for k, v in (n.avail if available else n.total).items():
            out[k] = out.get(k, 0.0) + v
        mem = n.store.capacity - (n.store.used if available else 0)
        out["object_store_memory"] = out.get("object_store_memory", 0.0) + float(mem)
    if available:
        out = {k: v for k, v in out.items() if v > 1e-9}
    return out


def describe(nodes) -> list:
    """``minirt.nodes()``: one dict per node, Ray's keys first."""
    return [{"NodeID": n.node_id, "Alive": n.alive, "NodeIndex": n.index,
             "Resources": dict(n.total, object_store_memory=float(n.store.capacity)),
             "ObjectStoreUsed": n.store.used, "ObjectStoreSpilled": n.store.spilled_bytes,
             "Workers": len(n.workers), "IsHead": n.index == 0,
             "ObjectStoreDir": n.store.shm_dir} for n in nodes]


def lose_objects(table, nodes, index: int, sched, queued) -> None:
    """Objects whose only copy was on node ``index`` become ObjectLostError values.

    ``queued`` are the tasks waiting to run: those that needed a lost object fail
    as dependents of a failed task do (they never run).
    """
    lost = []
    for oid, obj in table.objects.items():
        if not obj.ready or obj.kind != FILE or index not in obj.locs:
            continue
        obj.locs = tuple(n for n in obj.locs if n != index)
        if obj.locs:
            continue
        err = ObjectLostError(
            f"object {oid.hex()} is lost: its only copy was on node {index} "
            f"({nodes[index].node_id[:8]}...), which was removed. minirt does not "
            "rebuild lost objects from their tasks; re-run the task that made it")
        obj.kind, obj.data, obj.size, obj.is_error = INLINE, error_bytes(err), 0, True
        for c in obj.contained:
            table.decr(c)
        obj.contained = ()
        lost.append(oid)
    if not lost:
        return
    lost_set = set(lost)
    sched.event("objects_lost", node=index, objects=len(lost))
    for task in queued:
        bad = next((oid for oid in task.spec.deps if oid in lost_set), None)
        if bad is not None and not task.done:
            data = table.objects[bad].data
            sched.finish(task, [Result(r, INLINE, data, True, ()) for r in task.spec.returns])


def fail_unschedulable(sched, nodes, removed) -> None:
    """Fail what no live node could ever run now, rather than let its callers wait forever.

    (minirt refuses such tasks at submission too; Ray would keep them pending.)
    """
    live = [n for n in nodes if n.alive]

    def feasible(req):
        return any(all(n.total.get(k, 0.0) + 1e-9 >= v for k, v in req.items()) for n in live)
    why = (f"node {removed.index} ({removed.node_id[:8]}...) was removed and no live node "
           "has {req}; add_node() one that has, before submitting")
    for task in list(sched.tasks.values()):
        spec = task.spec
        if task.done or task.worker is not None or feasible(spec.resources):
            continue
        sched.kinds[spec.kind].unschedulable(task, why.format(req=spec.resources))
