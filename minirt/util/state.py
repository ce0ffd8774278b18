"""Ray's state API on minirt: what tasks, actors, objects, nodes and workers exist, and how they are.

The functions and their arguments are Ray's (``ray.util.state``), and so are
the records they return: the same field names in the same order, the same
state values (``PENDING_ARGS_AVAIL``, ``PENDING_NODE_ASSIGNMENT``,
``SUBMITTED_TO_WORKER`` (queued behind a worker's running task, see
``minirt/_pipeline.py``), ``RUNNING``, ``FINISHED``, ``FAILED`` for tasks; ``ALIVE``, ``RESTARTING``,
``DEAD`` for actors...). A record allows both ``task.state`` and
``task["state"]``. Fields Ray fills only with ``detail=True`` are None
otherwise, as in Ray; fields that have no minirt counterpart are None.

Where the answers come from::

    list_tasks() --call("state", "tasks")--> head (under its lock): copy the live tables
         |                                   and the event log, nothing more
         v
    format the copy here, outside the lock: finished tasks from the events
    ("submit", "place", "finish"), live ones from the task table

Finished tasks are remembered as long as their events are in the event log
(the last 20,000 events, about 6,700 tasks), like Ray, which keeps a bounded
number of task events; a task whose "submit" event has left the log is still
listed from its "place" and "finish" events (without its creation time). Lessons: lessons/04_api_tour.ipynb, lessons/07_internals.ipynb.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
from typing import Any

from .. import _context, _protocol
from .._refs import ObjectRef
from ._reprs import RecordList      # a list that Jupyter shows as a table

__all__ = ["list_tasks", "list_actors", "list_objects", "list_nodes", "list_workers",
           "get_task", "get_actor", "get_node", "get_worker", "get_objects",
           "summarize_tasks", "summarize_actors", "summarize_objects",
           "TaskState", "ActorState", "ObjectState", "NodeState", "WorkerState"]

_JOB_ID = "01000000"            # one driver, one job (Ray's first job id)
_DEFAULT_LIMIT = 100


# --- records ------------------------------------------------------------------------------
def _detail(default=None):
    return dataclasses.field(default=default, metadata={"detail": True})


class _Record:
    """Attribute and key access (``t.state`` and ``t["state"]``), as Ray's records allow."""

    _filterable: tuple = ()

    def __getitem__(self, key):
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key, default=None):
        return getattr(self, key) if key in self.__dataclass_fields__ else default

    def keys(self):
        return list(self.__dataclass_fields__)

    def __contains__(self, key):
        return key in self.__dataclass_fields__

    def asdict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def list_columns(cls, detail: bool = True) -> list:
        return [f.name for f in dataclasses.fields(cls) if detail or not f.metadata.get("detail")]

    @classmethod
    def filterable_columns(cls) -> set:
        return set(cls._filterable)


@dataclasses.dataclass
class TaskState(_Record):
    """One attempt of a task, an actor creation or an actor call (Ray's ``TaskState``)."""

    task_id: str
    attempt_number: int
    name: str
    state: str
    job_id: str
    actor_id: str | None
    type: str
    func_or_class_name: str
    parent_task_id: str | None
    node_id: str | None
    worker_id: str | None
    worker_pid: int | None
    error_type: str | None
    language: str | None = _detail()
    required_resources: dict | None = _detail()
    runtime_env_info: dict | None = _detail()
    placement_group_id: str | None = _detail()
    events: list | None = _detail()
    profiling_data: dict | None = _detail()
    creation_time_ms: int | None = _detail()
    start_time_ms: int | None = _detail()
    end_time_ms: int | None = _detail()
    task_log_info: dict | None = _detail()
    error_message: str | None = _detail()
    is_debugger_paused: bool | None = _detail()
    call_site: str | None = _detail()
    label_selector: dict | None = _detail()
    fallback_strategy: Any = _detail()

    _filterable = ("actor_id", "attempt_number", "error_type", "func_or_class_name",
                   "is_debugger_paused", "job_id", "language", "name", "node_id",
                   "parent_task_id", "placement_group_id", "state", "task_id", "type",
                   "worker_id", "worker_pid")


@dataclasses.dataclass
class ActorState(_Record):
    """One actor (Ray's ``ActorState``)."""

    actor_id: str
    class_name: str
    state: str
    job_id: str
    name: str | None
    node_id: str | None
    pid: int | None
    ray_namespace: str | None
    serialized_runtime_env: str | None = _detail()
    required_resources: dict | None = _detail()
    death_cause: dict | None = _detail()
    is_detached: bool | None = _detail()
    placement_group_id: str | None = _detail()
    repr_name: str | None = _detail()
    num_restarts: int | None = _detail()
    num_restarts_due_to_lineage_reconstruction: int | None = _detail()
    num_restarts_due_to_node_preemption: int | None = _detail()
    call_site: str | None = _detail()
    label_selector: dict | None = _detail()
    fallback_strategy: Any = _detail()

    _filterable = ("actor_id", "class_name", "job_id", "name", "node_id", "pid",
                   "placement_group_id", "ray_namespace", "repr_name", "state")


@dataclasses.dataclass
class ObjectState(_Record):
    """One reference to an object from one process (Ray's ``ObjectState``)."""

    object_id: str
    object_size: int
    task_status: str
    attempt_number: int
    reference_type: str
    call_site: str
    type: str
    pid: int
    ip: str

    _filterable = ("attempt_number", "call_site", "ip", "object_id", "object_size", "pid",
                   "reference_type", "task_status", "type")


@dataclasses.dataclass
class NodeState(_Record):
    """One node (Ray's ``NodeState``)."""

    node_id: str
    node_ip: str
    is_head_node: bool
    state: str
    state_message: str | None
    node_name: str
    resources_total: dict
    labels: dict
    start_time_ms: int | None = _detail()
    end_time_ms: int | None = _detail()

    _filterable = ("is_head_node", "node_id", "node_ip", "node_name", "state")


@dataclasses.dataclass
class WorkerState(_Record):
    """One worker process, or the driver (Ray's ``WorkerState``)."""

    worker_id: str
    is_alive: bool
    worker_type: str
    exit_type: str | None
    node_id: str
    ip: str
    pid: int
    exit_detail: str | None = _detail()
    worker_launch_time_ms: int | None = _detail()
    worker_launched_time_ms: int | None = _detail()
    start_time_ms: int | None = _detail()
    end_time_ms: int | None = _detail()
    debugger_port: int | None = _detail()
    num_paused_threads: int | None = _detail()

    _filterable = ("debugger_port", "exit_type", "ip", "is_alive", "node_id",
                   "num_paused_threads", "pid", "worker_id", "worker_type")


# --- the head's side: a copy of the tables, taken under its lock ---------------------------
def _snapshot(head, what: str) -> dict:
    """Copy what ``what`` needs from the head's tables (called under the head's lock).

    Only copies: plain tuples and lists, formatted by the caller outside the lock.
    """
    nodes = [(n.index, n.node_id, n.alive, dict(n.total)) for n in head.nodes]
    workers = [(w.wid, w.pid, w.node, w.actor.aid if w.actor is not None else None)
               for n in head.nodes for w in n.workers]
    snap = {"nodes": nodes, "workers": workers, "driver_pid": _driver_pid(),
            "started_at": head.started_at, "namespace": head.namespace,
            "paused": head.debug.paused_workers()}        # at breakpoint() (see _debugger)
    if what in ("tasks", "workers"):
        snap["events"] = list(head.event_log)
    if what == "tasks":        # the newest executions: where and when each task ran
        snap["runs"] = list(itertools.islice(reversed(head.timeline_rows), len(head.event_log)))
    if what in ("tasks", "actors", "objects"):
        snap["actors"] = [
            (a.aid, a.class_name, a.state, a.name, a.namespace,
             a.worker.node if a.worker is not None else None,
             a.worker.pid if a.worker is not None and not a.worker.dead else None,
             a.restarts, a.detached, dict(a.opts.get("hold", {})),
             str(a.error) if a.error is not None else None, a.refs,
             a.creation.spec.tid if a.creation is not None else None)
            for a in head.actors.values()]
    if what in ("tasks", "objects"):
        objects = head.objects
        live = []
        for t in head.tasks.values():
            spec = t.spec
            w = t.worker
            deps_ready = all((o := objects.get(d)) is not None and o.ready for d in spec.deps)
            live.append((spec.tid, spec.name, spec.kind, spec.actor_id, t.attempt,
                         t.node if t.node is not None else (w.node if w is not None else None),
                         w.wid if w is not None else None, w.pid if w is not None else None,
                         # a task queued behind its worker's running one is not running
                         w is not None and not w.dead and (spec.kind != "task" or w.task is t),
                         deps_ready, t.cancelled,
                         dict(spec.resources), tuple(spec.returns), tuple(spec.deps)))
        snap["tasks"] = live
    if what == "objects":
        snap["objects"] = [(oid, o.ready, o.size, o.is_error, o.refs, o.locs, o.contained,
                            o.producer.spec.tid if o.producer is not None else None)
                           for oid, o in head.objects.items()]
        snap["held"] = [(w.pid, w.node, tuple(w.held)) for n in head.nodes for w in n.workers
                        if w.held]
    return snap


def _driver_pid() -> int:
    import os
    return os.getpid()


def _take(what: str) -> dict:
    core = _context.peek()
    if core is None:
        raise RuntimeError("the state API needs a running runtime: call minirt.init() first "
                           "(on Ray it reads the dashboard of a running cluster)")
    return core.call("state", what)


# --- formatting (outside the lock) -----------------------------------------------------------
_TASK_TYPES = {"task": "NORMAL_TASK", "actor": "ACTOR_CREATION_TASK", "call": "ACTOR_TASK"}
_ACTOR_STATES = {"PENDING": "PENDING_CREATION", "ALIVE": "ALIVE", "RESTARTING": "RESTARTING",
                 "DEAD": "DEAD"}


def _ms(t):
    return None if t is None else int(t * 1000)


def _wid(wid):
    return None if wid is None else f"worker-{wid}"


def _task_rows(snap: dict, detail: bool) -> list[TaskState]:
    node_ids = {i: nid for i, nid, _, _ in snap["nodes"]}
    pids = {wid: pid for wid, pid, _, _ in snap["workers"]}
    actors = {a[0]: a for a in snap["actors"]}
    actor_of = {wid: aid for wid, _, _, aid in snap["workers"] if aid is not None}
    runs, run_kinds = {}, {}  # tid hex -> (node, wid, pid, t0, t1) of its latest execution
    for _name, kind, node, wid, pid, t0, t1, tid_hex, _attempt in snap["runs"]:
        runs.setdefault(tid_hex, (node, wid, pid, t0, t1))
        run_kinds[tid_hex] = kind
    rows: dict[bytes, dict] = {}           # tid -> fields; dicts keep submission order
    # 1. what the event log remembers (finished tasks, and times for all)
    for t, kind, f in snap["events"]:
        if kind == "worker_start":
            pids.setdefault(f["worker"], f["pid"])
            continue
        tid = f.get("id")
        if kind == "submit":
            rows[tid] = dict(name=f["task"], kind=f["type"], actor_id=None, attempt=0,
                             node=None, wid=None, state="PENDING_ARGS_AVAIL", error=False,
                             created=t, started=None, ended=None, resources=None,
                             history=[("PENDING_ARGS_AVAIL", t)])
            continue
        row = rows.get(tid)
        if row is None:
            if kind not in ("place", "finish"):
                continue
            # Its "submit" event has left the bounded log (a batch of thousands of tasks
            # pushes the first submissions out before their ends): the rest describes it.
            row = rows[tid] = dict(name=f["task"], actor_id=None, attempt=0, node=None,
                                   wid=None, state="PENDING_NODE_ASSIGNMENT", error=False,
                                   created=None, started=None, ended=None, resources=None,
                                   history=[],
                                   kind=f.get("type") or run_kinds.get(tid.hex(), "task"))
        if kind == "place":
            row.update(node=f["node"], wid=f["worker"], attempt=f["attempt"], started=t,
                       state="RUNNING")
            row["history"].append(("RUNNING", t))
        elif kind == "retry":
            row.update(attempt=f["attempt"], state="PENDING_NODE_ASSIGNMENT")
            row["history"].append(("PENDING_NODE_ASSIGNMENT", t))
        elif kind == "finish":
            state = "FAILED" if f["error"] else "FINISHED"
            row.update(state=state, error=f["error"], ended=t)
            row["history"].append((state, t))
    # 2. live tasks: the task table knows their exact state
    for (tid, name, kind, actor_id, attempt, node, wid, pid, running, deps_ready, cancelled,
         resources, _returns, _deps) in snap["tasks"]:
        row = rows.setdefault(tid, dict(name=name, kind=kind, created=None, started=None,
                                        ended=None, error=False, history=[]))
        if kind == "actor" and actor_id in actors and actors[actor_id][2] == "ALIVE":
            state = "FINISHED"                  # __init__ ran; the task stays for restarts
        elif running:
            state = "RUNNING"
        elif not deps_ready:
            state = "PENDING_ARGS_AVAIL"
        elif kind == "call":
            state = "PENDING_ACTOR_TASK_ORDERING_OR_CONCURRENCY"
        elif wid is not None:                   # queued on a busy worker (see _pipeline.py)
            state = "SUBMITTED_TO_WORKER"
        else:
            state = "PENDING_NODE_ASSIGNMENT"
        row.update(name=name, kind=kind, actor_id=actor_id, attempt=attempt,
                   node=node, wid=wid, state=state, resources=resources)
        if pid is not None:
            pids[wid] = pid
    for a in snap["actors"]:                 # creation tasks know their actor
        tid = a[12]
        if tid in rows:
            rows[tid]["actor_id"] = a[0]
            rows[tid]["actor_name"] = a[3]
    out = []
    for tid, r in rows.items():
        run = runs.get(tid.hex())
        if run is not None:
            node, wid, pid, t0, t1 = run
            if r.get("wid") is None:
                r.update(node=node, wid=wid)
            pids.setdefault(wid, pid)
            if r["state"] in ("FINISHED", "FAILED"):
                r.update(started=t0, ended=t1)
        if r["kind"] == "call" and r.get("actor_id") is None:
            r["actor_id"] = actor_of.get(r.get("wid"))
        kind = r["kind"]
        name = r["name"]
        func_name = name
        if kind == "actor" and r.get("actor_name"):
            name = f"{r['actor_name']}:{name}"          # Ray's name for a named actor's creation
        actor_id = r.get("actor_id")
        rec = TaskState(
            task_id=tid.hex(), attempt_number=r.get("attempt", 0), name=name, state=r["state"],
            job_id=_JOB_ID, actor_id=actor_id.hex() if actor_id else None,
            type=_TASK_TYPES.get(kind, "NORMAL_TASK"), func_or_class_name=func_name,
            parent_task_id=None, node_id=node_ids.get(r.get("node")),
            worker_id=_wid(r.get("wid")), worker_pid=pids.get(r.get("wid")),
            error_type="TASK_EXECUTION_EXCEPTION" if r["state"] == "FAILED" else None)
        if detail:
            rec.language = "PYTHON"
            rec.required_resources = r.get("resources")
            rec.events = [{"state": s, "created_ms": _ms(t)} for s, t in r["history"]]
            rec.creation_time_ms = _ms(r.get("created"))
            rec.start_time_ms = _ms(r.get("started"))
            rec.end_time_ms = _ms(r.get("ended"))
            rec.is_debugger_paused = r["state"] == "RUNNING" and \
                r.get("wid") in snap.get("paused", {})
        out.append(rec)
    return out


def _actor_rows(snap: dict, detail: bool) -> list[ActorState]:
    node_ids = {i: nid for i, nid, _, _ in snap["nodes"]}
    out = []
    for (aid, class_name, state, name, namespace, node, pid, restarts, detached, hold,
         error, _refs, _tid) in snap["actors"]:
        rec = ActorState(actor_id=aid.hex(), class_name=class_name,
                         state=_ACTOR_STATES.get(state, state), job_id=_JOB_ID, name=name or "",
                         node_id=node_ids.get(node), pid=pid,
                         ray_namespace=namespace or snap["namespace"])
        if detail:
            rec.required_resources = hold
            rec.death_cause = {"actor_died_error_context": {"error_message": error}} \
                if error else None
            rec.is_detached = detached
            rec.repr_name = ""
            rec.num_restarts = restarts
            rec.num_restarts_due_to_lineage_reconstruction = 0
            rec.num_restarts_due_to_node_preemption = 0
        out.append(rec)
    return out


def _object_rows(snap: dict, detail: bool) -> list[ObjectState]:
    status_of = {}                            # producer tid -> its state
    for (tid, _n, kind, _a, _att, _node, wid, _pid, running, deps_ready, _c, _r, _ret,
         _d) in snap["tasks"]:
        status_of[tid] = ("RUNNING" if running else
                          "PENDING_ARGS_AVAIL" if not deps_ready else
                          "SUBMITTED_TO_WORKER" if wid is not None and kind == "task" else
                          "PENDING_NODE_ASSIGNMENT")
    pinned: dict[bytes, int] = {}             # oid -> live tasks taking it as an argument
    for t in snap["tasks"]:
        for d in t[13]:
            pinned[d] = pinned.get(d, 0) + 1
    captured: dict[bytes, int] = {}
    for _oid, _r, _s, _e, _refs, _l, contained, _p in snap["objects"]:
        for c in contained:
            captured[c] = captured.get(c, 0) + 1
    held: dict[bytes, list] = {}
    for pid, _node, oids in snap["held"]:
        for oid in oids:
            held.setdefault(oid, []).append(pid)
    driver = snap["driver_pid"]
    out = []

    def row(oid, size, status, ref_type, kind, pid):
        out.append(ObjectState(object_id=oid.hex(), object_size=size, task_status=status,
                               attempt_number=1, reference_type=ref_type, call_site="disabled",
                               type=kind, pid=pid, ip="127.0.0.1"))

    for oid, ready, size, _is_error, refs, _locs, _c, producer in snap["objects"]:
        status = "FINISHED" if ready else status_of.get(producer, "NIL")
        size = size if ready else -1
        workers = held.get(oid, [])
        for pid in workers:
            row(oid, size, status, "LOCAL_REFERENCE", "WORKER", pid)
        n_pinned, n_captured = pinned.get(oid, 0), captured.get(oid, 0)
        if n_pinned:
            row(oid, size, status, "USED_BY_PENDING_TASK", "DRIVER", driver)
        if n_captured:
            row(oid, size, status, "CAPTURED_IN_OBJECT", "DRIVER", driver)
        if refs - len(workers) - n_pinned - n_captured > 0:
            row(oid, size, status, "LOCAL_REFERENCE", "DRIVER", driver)
    for a in snap["actors"]:
        if a[11] > 0 and a[2] != "DEAD":
            row(a[0], -1, "NIL", "ACTOR_HANDLE", "DRIVER", driver)
    return out


def _node_rows(snap: dict, detail: bool) -> list[NodeState]:
    out = []
    for index, node_id, alive, total in snap["nodes"]:
        rec = NodeState(node_id=node_id, node_ip="127.0.0.1", is_head_node=index == 0,
                        state="ALIVE" if alive else "DEAD",
                        state_message=None if alive else "removed (cluster_utils.Cluster.remove_node)",
                        node_name=f"node {index}", resources_total=dict(total),
                        labels={"ray.io/node-id": node_id})
        if detail and index == 0:
            rec.start_time_ms = _ms(snap["started_at"])
        out.append(rec)
    return out


def _worker_rows(snap: dict, detail: bool) -> list[WorkerState]:
    node_ids = {i: nid for i, nid, _, _ in snap["nodes"]}
    out = [WorkerState(worker_id="driver", is_alive=True, worker_type="DRIVER", exit_type=None,
                       node_id=node_ids[0], ip="127.0.0.1", pid=snap["driver_pid"])]
    live = {wid for wid, _, _, _ in snap["workers"]}
    seen: dict[int, WorkerState] = {}
    for t, kind, f in snap["events"]:
        if kind == "worker_start":
            rec = WorkerState(worker_id=_wid(f["worker"]), is_alive=f["worker"] in live,
                              worker_type="WORKER", exit_type=None,
                              node_id=node_ids.get(f["node"]), ip="127.0.0.1", pid=f["pid"])
            if detail:
                rec.worker_launch_time_ms = rec.worker_launched_time_ms = _ms(t)
                rec.start_time_ms = _ms(t)
            seen[f["worker"]] = rec
        elif kind == "worker_exit" and f["worker"] in seen:
            rec = seen[f["worker"]]
            code = f.get("exitcode")
            rec.is_alive = False
            rec.exit_type = "INTENDED_SYSTEM_EXIT" if code == 0 else "SYSTEM_ERROR"
            if detail:
                rec.end_time_ms = _ms(t)
                rec.exit_detail = f"exit code {code}"
    for wid, pid, node, _aid in snap["workers"]:     # started before the log's window
        if wid not in seen:
            seen[wid] = WorkerState(worker_id=_wid(wid), is_alive=True, worker_type="WORKER",
                                    exit_type=None, node_id=node_ids.get(node), ip="127.0.0.1",
                                    pid=pid)
    if detail:
        for wid, rec in seen.items():
            rec.num_paused_threads = snap.get("paused", {}).get(wid, 0) if rec.is_alive else 0
    return out + list(seen.values())


# --- arguments -----------------------------------------------------------------------------
def _check(filters, limit, detail, cls) -> list:
    if filters is None:
        filters = []
    if not isinstance(filters, (list, tuple)):
        raise TypeError(f"filters must be a list of (key, predicate, value) tuples, like "
                        f'[("state", "=", "RUNNING")]; got {filters!r}')
    out = []
    for flt in filters:
        if not isinstance(flt, (list, tuple)) or len(flt) != 3:
            raise TypeError(f"each filter is a (key, predicate, value) tuple, like "
                            f'("state", "=", "RUNNING"); got {flt!r}')
        key, pred, value = flt
        if not isinstance(key, str):
            raise TypeError(f"a filter's key must be a column name (str); got {key!r}")
        key = key.lower()
        if key not in cls.filterable_columns():
            raise ValueError(f"The given filter column {key} is not supported. Supported filter "
                             f"columns: {sorted(cls.filterable_columns())}")
        if pred not in ("=", "!="):
            raise ValueError(f"Unsupported filter predicate {pred!r} is given. Available "
                             "predicates: =, !=.")
        out.append((key, pred, value))
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"limit must be an int; got {limit!r}")
    if limit <= 0:
        raise ValueError(f"limit must be 1 or more; got {limit}")
    if not isinstance(detail, bool):
        raise TypeError("detail must be True or False")
    return out


def _matches(value, want) -> bool:
    if isinstance(value, str) and isinstance(want, str):
        return value.upper() == want.upper()          # case-insensitive, as in Ray
    if isinstance(value, bool) and isinstance(want, str):
        return value == (want.lower() == "true")
    if isinstance(value, int) and isinstance(want, str):
        try:
            return value == int(want)
        except ValueError:
            return False
    return value == want


def _select(rows, filters, limit):
    out = []
    for r in rows:
        if all(_matches(getattr(r, k), v) == (p == "=") for k, p, v in filters):
            out.append(r)
            if len(out) >= limit:
                break
    return out


def _listing(what, make, cls, filters, limit, detail):
    filters = _check(filters, limit, detail, cls)
    return RecordList(_select(make(_take(what), detail), filters, limit))


# --- the public functions --------------------------------------------------------------------
def list_tasks(address=None, filters=None, limit: int = _DEFAULT_LIMIT, timeout: int = 30,
               detail: bool = False, raise_on_missing_output: bool = True,
               _explain: bool = False) -> list[TaskState]:
    """Tasks, actor creations and actor calls, oldest first.

    Args:
        address: accepted for Ray compatibility (minirt reads its own runtime).
        filters: ``[(column, "=" or "!=", value), ...]``, e.g. ``[("state", "=", "RUNNING")]``;
            string values match case-insensitively.
        limit: at most this many records.
        timeout, raise_on_missing_output, _explain: accepted for Ray compatibility.
        detail: also fill the detail-only fields (times, resources, state history).

    Returns:
        A list of :class:`TaskState` (``task.state`` and ``task["state"]`` both work).

    Raises:
        RuntimeError: the runtime is not started.
        TypeError, ValueError: a malformed filter, an unknown column or predicate, a bad limit.

    Example:
        >>> import minirt
        >>> from minirt.util.state import list_tasks
        >>> _ = minirt.init(num_cpus=1)
        >>> @minirt.remote
        ... def double(x):
        ...     return 2 * x
        >>> minirt.get(double.remote(21))
        42
        >>> [(t.name, t.state, t.type) for t in list_tasks(filters=[("name", "=", "double")])]
        [('double', 'FINISHED', 'NORMAL_TASK')]
        >>> minirt.shutdown()
    """
    return _listing("tasks", _task_rows, TaskState, filters, limit, detail)


def list_actors(address=None, filters=None, limit: int = _DEFAULT_LIMIT, timeout: int = 30,
                detail: bool = False, raise_on_missing_output: bool = True,
                _explain: bool = False) -> list[ActorState]:
    """Actors, alive or dead (states ``PENDING_CREATION``, ``ALIVE``, ``RESTARTING``, ``DEAD``).

    Arguments, return and errors as :func:`list_tasks`, with :class:`ActorState` records.

    Example:
        >>> import minirt
        >>> from minirt.util.state import list_actors
        >>> _ = minirt.init(num_cpus=1)
        >>> @minirt.remote
        ... class Counter:
        ...     def incr(self):
        ...         return 1
        >>> c = Counter.options(name="tally").remote()
        >>> minirt.get(c.incr.remote())
        1
        >>> [(a.class_name, a.name, a.state) for a in list_actors()]
        [('Counter', 'tally', 'ALIVE')]
        >>> minirt.shutdown()
    """
    return _listing("actors", _actor_rows, ActorState, filters, limit, detail)


def list_objects(address=None, filters=None, limit: int = _DEFAULT_LIMIT, timeout: int = 30,
                 detail: bool = False, raise_on_missing_output: bool = True,
                 _explain: bool = False) -> list[ObjectState]:
    """References to objects: one record per (object, holder) as in Ray.

    ``reference_type`` says why the object is kept: ``LOCAL_REFERENCE`` (a process
    holds an ObjectRef), ``USED_BY_PENDING_TASK`` (a task waits to take it as an
    argument), ``CAPTURED_IN_OBJECT`` (another object's value holds its ref),
    ``ACTOR_HANDLE``. ``object_size`` is -1 until the object exists.
    Arguments, return and errors as :func:`list_tasks`.

    Example:
        >>> import minirt
        >>> from minirt.util.state import list_objects
        >>> _ = minirt.init(num_cpus=1)
        >>> ref = minirt.put(b"x" * 1000)
        >>> [(o.object_id == ref.hex(), o.reference_type, o.task_status) for o in list_objects()]
        [(True, 'LOCAL_REFERENCE', 'FINISHED')]
        >>> minirt.shutdown()
    """
    return _listing("objects", _object_rows, ObjectState, filters, limit, detail)


def list_nodes(address=None, filters=None, limit: int = _DEFAULT_LIMIT, timeout: int = 30,
               detail: bool = False, raise_on_missing_output: bool = True,
               _explain: bool = False) -> list[NodeState]:
    """Nodes, head first; a node removed from a Cluster stays listed as ``DEAD``.

    Arguments, return and errors as :func:`list_tasks`.

    Example:
        >>> import minirt
        >>> from minirt.util.state import list_nodes
        >>> _ = minirt.init(num_cpus=2)
        >>> [(n.is_head_node, n.state, n.resources_total["CPU"]) for n in list_nodes()]
        [(True, 'ALIVE', 2.0)]
        >>> minirt.shutdown()
    """
    return _listing("nodes", _node_rows, NodeState, filters, limit, detail)


def list_workers(address=None, filters=None, limit: int = _DEFAULT_LIMIT, timeout: int = 30,
                 detail: bool = False, raise_on_missing_output: bool = True,
                 _explain: bool = False) -> list[WorkerState]:
    """The driver and every worker process the event log remembers, alive or exited.

    Arguments, return and errors as :func:`list_tasks`.

    Example:
        >>> import minirt
        >>> from minirt.util.state import list_workers
        >>> _ = minirt.init(num_cpus=1)
        >>> list_workers(filters=[("worker_type", "=", "DRIVER")])[0].is_alive
        True
        >>> minirt.shutdown()
    """
    return _listing("workers", _worker_rows, WorkerState, filters, limit, detail)


def _get_one(id, fn, column):
    if not isinstance(id, str):
        raise TypeError(f"id must be a hex string (the {column}); got {id!r}")
    found = fn(filters=[(column, "=", id)], detail=True, limit=1)
    return found[0] if found else None


def get_task(id, address=None, timeout: int = 30, _explain: bool = False):
    """The task with this id (a hex string, or the ObjectRef of a task not yet finished).

    Returns:
        TaskState with detail fields, or None if no such task is known.

    Example:
        >>> import minirt
        >>> from minirt.util.state import get_task, list_tasks
        >>> _ = minirt.init(num_cpus=1)
        >>> minirt.get(minirt.remote(lambda: 1).remote())
        1
        >>> get_task(list_tasks()[0].task_id).state
        'FINISHED'
        >>> minirt.shutdown()
    """
    if isinstance(id, ObjectRef):
        for t in _take("objects")["tasks"]:
            if id._id in t[12]:
                id = t[0].hex()
                break
        else:
            return None
    return _get_one(id, list_tasks, "task_id")


def get_actor(id: str, address=None, timeout: int = 30, _explain: bool = False):
    """The actor with this id (``handle._actor_id.hex()`` in Ray; ``list_actors()`` shows it)."""
    return _get_one(id, list_actors, "actor_id")


def get_node(id: str, address=None, timeout: int = 30, _explain: bool = False):
    """The node with this id (``get_runtime_context().get_node_id()``)."""
    return _get_one(id, list_nodes, "node_id")


def get_worker(id: str, address=None, timeout: int = 30, _explain: bool = False):
    """The worker with this id (``get_runtime_context().get_worker_id()``)."""
    return _get_one(id, list_workers, "worker_id")


def get_objects(id: str, address=None, timeout: int = 30, _explain: bool = False) -> list:
    """Every reference record of the object with this id (``ref.hex()``)."""
    if not isinstance(id, str):
        raise TypeError(f"id must be a hex string (ref.hex()); got {id!r}")
    return list_objects(filters=[("object_id", "=", id)], limit=sys.maxsize)


def summarize_tasks(address=None, timeout: int = 30, raise_on_missing_output: bool = True,
                    _explain: bool = False) -> dict:
    """Task counts per function and state, in Ray's shape.

    Returns:
        ``{"cluster": {"summary": {name: {"func_or_class_name", "type", "state_counts"}},
        "total_tasks", "total_actor_tasks", "total_actor_scheduled", "summary_by": "func_name"}}``

    Example:
        >>> import minirt
        >>> from minirt.util.state import summarize_tasks
        >>> _ = minirt.init(num_cpus=1)
        >>> f = minirt.remote(lambda: 0)
        >>> _ = minirt.get([f.remote() for _ in range(3)])
        >>> summarize_tasks()["cluster"]["summary"]["<lambda>"]["state_counts"]
        {'FINISHED': 3}
        >>> minirt.shutdown()
    """
    tasks = _task_rows(_take("tasks"), False)
    summary: dict[str, dict] = {}
    totals = {"NORMAL_TASK": 0, "ACTOR_TASK": 0, "ACTOR_CREATION_TASK": 0}
    for t in tasks:
        entry = summary.setdefault(t.name, {"func_or_class_name": t.name, "type": t.type,
                                            "state_counts": {}})
        entry["state_counts"][t.state] = entry["state_counts"].get(t.state, 0) + 1
        totals[t.type] = totals.get(t.type, 0) + 1
    return {"cluster": {"summary": summary, "total_tasks": totals["NORMAL_TASK"],
                        "total_actor_tasks": totals["ACTOR_TASK"],
                        "total_actor_scheduled": totals["ACTOR_CREATION_TASK"],
                        "summary_by": "func_name"}}


def summarize_actors(address=None, timeout: int = 30, raise_on_missing_output: bool = True,
                     _explain: bool = False) -> dict:
    """Actor counts per class and state, in Ray's shape.

    Returns:
        ``{"cluster": {"summary": {class: {"class_name", "state_counts"}}, "total_actors",
        "summary_by": "class"}}``
    """
    actors = _actor_rows(_take("actors"), False)
    summary: dict[str, dict] = {}
    for a in actors:
        entry = summary.setdefault(a.class_name, {"class_name": a.class_name, "state_counts": {}})
        entry["state_counts"][a.state] = entry["state_counts"].get(a.state, 0) + 1
    return {"cluster": {"summary": summary, "total_actors": len(actors), "summary_by": "class"}}


def summarize_objects(address=None, timeout: int = 30, raise_on_missing_output: bool = True,
                      _explain: bool = False) -> dict:
    """Object counts and sizes, in Ray's shape (one group: call sites are not recorded).

    Returns:
        ``{"cluster": {"summary": {"disabled": {...}}, "total_objects", "total_size_mb",
        "callsite_enabled": False, "summary_by": "callsite"}}``
    """
    objects = _object_rows(_take("objects"), False)
    sizes = {o.object_id: max(o.object_size, 0) for o in objects}
    total_mb = sum(sizes.values()) / 2**20
    group = {"total_objects": len(objects), "total_size_mb": total_mb,
             "total_num_workers": len({o.pid for o in objects}),
             "total_num_nodes": 1 if objects else 0,
             "task_state_counts": {}, "task_attempt_number_counts": {}, "ref_type_counts": {}}
    for o in objects:
        for key, value in (("task_state_counts", o.task_status),
                           ("task_attempt_number_counts", str(o.attempt_number)),
                           ("ref_type_counts", o.reference_type)):
            group[key][value] = group[key].get(value, 0) + 1
    summary = {"disabled": group} if objects else {}
    return {"cluster": {"summary": summary, "total_objects": len(objects),
                        "total_size_mb": total_mb, "callsite_enabled": False,
                        "summary_by": "callsite"}}


_protocol.ADDON_REQUESTS["state"] = _snapshot
