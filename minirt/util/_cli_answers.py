"""The driver's side of the ``minirt`` command line: the requests it answers.

Registered with ``_admin.HANDLERS`` at import (``import minirt`` imports this
through ``minirt.util.cli``); each runs in one of the admin server's request
threads of the driver::

    admin.sock request --> handler(head, args) --held(lock, <= 2 s)--> copy the tables
                                               (state._snapshot, a few node fields)
                           <-- JSON-able value -- format the copy, outside the lock

``stack`` also signals every worker that has finished starting (``STACK_SIGNAL``:
each dumps its threads with ``faulthandler`` to its ``.stack`` log file) and
waits for the dumps without the lock. Lesson: lessons/08_patterns.ipynb (troubleshooting).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback

from .. import _admin, _logs, _protocol
from . import state
from ._introspect import held

LOCK_WAIT = 2.0             # seconds a request waits for the head's lock, at most
STACK_WAIT = 2.0            # seconds `stack` waits for the workers' dumps
_KINDS = {"tasks": ("tasks", state._task_rows, state.TaskState),
          "actors": ("actors", state._actor_rows, state.ActorState),
          "objects": ("objects", state._object_rows, state.ObjectState),
          "workers": ("workers", state._worker_rows, state.WorkerState),
          "nodes": ("nodes", state._node_rows, state.NodeState)}


def _locked(head, fn):
    """``fn(head)`` in one hold of the head's lock, waited for :data:`LOCK_WAIT` s at most.

    Raises:
        TimeoutError: the lock stayed busy (the client is told to try again).
        RuntimeError: the runtime is shutting down.
    """
    with held(head, LOCK_WAIT) as ok:
        if not ok:
            raise TimeoutError(f"the runtime's lock was busy for {LOCK_WAIT} s; try again")
        if head._closed:
            raise RuntimeError("the runtime is shutting down")
        return fn(head)


def _take(head, what: str, extra=None):
    """``state._snapshot(head, what)`` (and ``extra(head)``) in one bounded hold of the lock."""
    return _locked(head, lambda h: (state._snapshot(h, what),
                                    extra(h) if extra is not None else None))


def _h_list(head, args: dict) -> dict:
    kind = args.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"list what? one of {sorted(_KINDS)}; got {kind!r}")
    what, make, cls = _KINDS[kind]
    detail = bool(args.get("detail", False))
    filters = state._check([tuple(f) for f in args.get("filters") or []],
                           int(args.get("limit", state._DEFAULT_LIMIT)), detail, cls)
    rows = make(_take(head, what)[0], detail)
    matching = state._select(rows, filters, sys.maxsize)
    chosen = matching[:int(args.get("limit", state._DEFAULT_LIMIT))]
    return {"total": len(matching), "rows": [r.asdict() for r in chosen]}


def _nodes_view(head) -> list:
    out = []
    for n in head.nodes:
        st = n.store
        out.append({"index": n.index, "node_id": n.node_id, "alive": n.alive,
                    "total": dict(n.total), "avail": dict(n.avail), "store_used": st.used,
                    "store_capacity": st.capacity, "spilled": st.spilled_bytes,
                    "workers": [(w.wid, w.pid, w.actor.class_name if w.actor else None,
                                 w.task.spec.name if w.task is not None else None)
                                for w in n.workers]})
    return out


def _h_status(head, args: dict) -> dict:
    snap, nodes = _take(head, "tasks", _nodes_view)
    tasks, actors = {}, {}
    paused = 0
    for t in state._task_rows(snap, True):
        tasks[t.state] = tasks.get(t.state, 0) + 1
        paused += bool(t.is_debugger_paused)
    for a in state._actor_rows(snap, False):
        actors[a.state] = actors.get(a.state, 0) + 1
    return {"pid": os.getpid(), "started_at": head.started_at, "namespace": head.namespace,
            "session": head.logs.path if head.logs else None, "nodes": nodes,
            "tasks": tasks, "paused": paused, "actors": actors, "time": time.time()}


def _object_places(head) -> dict:
    """oid hex -> (node, "shared memory" | "spilled" | "inline") of each object."""
    out = {}
    for oid, o in head.objects.items():
        if not o.ready:
            continue
        if o.kind == 0:
            out[oid.hex()] = (0, "inline")
            continue
        locs = sorted(o.locs)
        node = locs[0] if locs else None
        where = "lost"
        if node is not None:
            entry = head.nodes[node].store._files.get(oid)     # [size, spilled]
            where = "lost" if entry is None else "spilled" if entry[1] else "shared memory"
        out[oid.hex()] = (node, where)
    return out


def _h_memory(head, args: dict) -> dict:
    snap, places = _take(head, "objects", lambda h: (_object_places(h), _nodes_view(h)))
    places, nodes = places
    rows = []
    for r in state._object_rows(snap, False):
        d = r.asdict()
        d["node"], d["where"] = places.get(r.object_id, (None, "pending"))
        rows.append(d)
    return {"rows": rows, "nodes": nodes, "time": time.time()}


def _h_summary(head, args: dict) -> dict:
    kind = args.get("kind")
    if kind not in ("tasks", "actors", "objects"):
        raise ValueError(f"summary of what? tasks, actors or objects; got {kind!r}")
    what, make, _ = _KINDS[kind]
    rows = make(_take(head, what)[0], False)
    summary: dict = {}
    if kind == "tasks":
        for t in rows:
            e = summary.setdefault(t.name, {"func_or_class_name": t.name, "type": t.type,
                                            "state_counts": {}})
            e["state_counts"][t.state] = e["state_counts"].get(t.state, 0) + 1
    elif kind == "actors":
        for a in rows:
            e = summary.setdefault(a.class_name, {"class_name": a.class_name, "state_counts": {}})
            e["state_counts"][a.state] = e["state_counts"].get(a.state, 0) + 1
    else:
        for o in rows:
            e = summary.setdefault(o.reference_type, {"reference_type": o.reference_type,
                                                      "total_objects": 0, "total_size": 0})
            e["total_objects"] += 1
            e["total_size"] += max(o.object_size, 0)
    stats = {"total": len(rows)}
    if kind == "tasks":          # Ray's stats for tasks
        stats = {t: sum(1 for r in rows if r.type == ty) for t, ty in
                 (("total_actor_scheduled", "ACTOR_CREATION_TASK"),
                  ("total_actor_tasks", "ACTOR_TASK"), ("total_tasks", "NORMAL_TASK"))}
    return {"kind": kind, "summary": summary, "total": len(rows), "stats": stats}


def _h_timeline(head, args: dict) -> list:
    rows = _locked(head, lambda h: list(h.timeline_rows))
    return _protocol.trace_events(rows)


def _driver_stacks() -> str:
    names = {t.ident: t.name for t in threading.enumerate()}
    out = []
    for ident, frame in sys._current_frames().items():
        out.append(f"Thread {names.get(ident, '?')} (id {ident}):\n"
                   + "".join(traceback.format_stack(frame)))
    return "\n".join(out)


def _catches(pid: int, signum: int) -> bool:
    """Has process ``pid`` a handler for ``signum`` (``SigCgt`` in ``/proc/<pid>/status``)?

    A worker installs its ``faulthandler`` for ``STACK_SIGNAL`` a moment after it is
    forked; until then the signal's default action would end it. A handler, once
    installed, stays: a process seen catching it can be signalled safely.
    """
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def _send_stack_signal(pid: int, pidfd: int | None, signum: int) -> bool:
    """Signal a worker that has finished starting (see :func:`_catches`), through its
    pidfd (the same process even if ``pid`` was reused); return whether it was sent."""
    if not _catches(pid, signum):
        return False
    try:
        if pidfd is not None:
            signal.pidfd_send_signal(pidfd, signum)
        else:                           # no pidfd (kernel < 5.3): by pid
            os.kill(pid, signum)
        return True
    except OSError:                     # gone meanwhile
        return False


def _h_stack(head, args: dict) -> dict:
    """Every worker that has finished starting dumps its threads (``faulthandler`` on
    ``STACK_SIGNAL``) to its ``.stack`` file; this waits for the dumps outside the
    head's lock. Each worker is signalled through a duplicate of its pidfd, taken
    under the lock while the head knows it alive, so a reused pid is never hit."""
    from .._worker_signals import STACK_SIGNAL

    def workers_of(h):
        out = []
        for n in h.nodes:
            for w in n.workers:
                if w.dead or w.exited:
                    continue
                try:
                    fd = os.dup(w.pidfd) if w.pidfd is not None else None
                except OSError:
                    continue
                out.append((w.wid, w.pid, w.actor.class_name if w.actor else None,
                            w.task.spec.name if w.task is not None else None, fd))
        return out, (h.logs.logs_dir if h.logs else None)
    workers, logs_dir = _locked(head, workers_of)
    driver = _driver_stacks()
    files, starting = {}, set()
    try:
        for wid, pid, actor, task, fd in workers:
            if logs_dir is None:
                break
            path = _logs.worker_files(logs_dir, wid, pid)[2]
            try:
                start = os.path.getsize(path)
            except OSError:
                starting.add(wid)       # not even its log files yet
                continue
            if _send_stack_signal(pid, fd, STACK_SIGNAL):
                files[wid] = (path, start)
            else:
                starting.add(wid)
    finally:
        for *_, fd in workers:
            if fd is not None:
                os.close(fd)
    if logs_dir is None:
        return {"driver": driver, "driver_pid": os.getpid(), "workers": []}
    deadline = time.monotonic() + STACK_WAIT
    sizes: dict = {}
    while time.monotonic() < deadline:      # until every dump has arrived and stopped growing
        now = {wid: os.path.getsize(p) for wid, (p, _) in files.items() if os.path.exists(p)}
        if all(now.get(w, 0) > s0 for w, (_, s0) in files.items()) and now == sizes:
            break
        sizes = now
        time.sleep(0.05)
    out = []
    for wid, pid, actor, task, _ in workers:
        if wid in starting:
            out.append({"wid": wid, "pid": pid, "actor": actor, "task": task,
                        "stack": "(still starting: it cannot dump its stack yet)\n"})
        if wid not in files:
            continue
        path, start = files[wid]
        try:
            with open(path, "rb") as f:
                f.seek(start)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            text = ""
        out.append({"wid": wid, "pid": pid, "actor": actor, "task": task,
                    "stack": text or "(no answer: the worker did not dump its stack in time)\n"})
    return {"driver": driver, "driver_pid": os.getpid(), "workers": out}


_admin.HANDLERS.update(status=_h_status, list=_h_list, memory=_h_memory, summary=_h_summary,
                       timeline=_h_timeline, stack=_h_stack)
