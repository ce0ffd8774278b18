"""Small, non-blocking looks into the head, for reprs and the live task view.

Everything here takes the head's lock *with a short timeout* (a repr must
never hang a notebook, even while a long ``get`` runs elsewhere), copies a
few plain values into NamedTuples, and lets go; all formatting happens
later, outside the lock. If the lock is busy or the runtime is gone, the
functions return ``None`` and the caller shows what it knows without the
head. Inside a worker there is no head: the same functions return ``None``.

::

    repr(ref) --> ref_info(oid) --lock (<=50 ms)--> RefInfo(state, size, nodes)
    TaskStream thread --> live_snapshot(cursor) --lock--> LiveSnapshot (+ new rows/events)
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

from .. import _context

_LOCK_TIMEOUT = 0.05       # seconds a repr may wait for the head's lock


class RefInfo(NamedTuple):
    """What the head knows about one object."""
    state: str             # "pending", "ready", "failed" or "freed"
    size: int              # bytes (0 while pending)
    nodes: tuple           # node indices holding a copy (inline objects: (0,))
    task: str | None       # name of the task that makes it, while pending


class ActorInfo(NamedTuple):
    """What the head knows about one actor."""
    class_name: str
    name: str | None
    namespace: str | None
    state: str             # PENDING, ALIVE, RESTARTING, DEAD
    node: int | None
    pid: int | None
    restarts: int
    error: str | None      # why it died


class WorkerView(NamedTuple):
    """One worker process as the live view draws it."""
    node: int
    wid: int
    pid: int
    actor: str | None      # class name, for an actor's worker
    task: str | None       # the task it runs now
    task_id: bytes | None
    paused: bool = False   # stopped at breakpoint() (a debugger session, see _debugger)


class NodeView(NamedTuple):
    index: int
    cpus: float
    cpus_free: float
    store_used: int
    store_capacity: int
    spilled: int
    alive: bool = True     # False once removed from a Cluster


class LiveSnapshot(NamedTuple):
    """A copy of what the live view needs, taken in one short hold of the lock."""
    time: float
    started_at: float
    nodes: list            # [NodeView]
    workers: list          # [WorkerView]
    actors: list           # [ActorInfo]
    tasks: int             # submitted and not finished (waiting, queued or running)
    rows: list             # new timeline rows since the cursor (see Head._record)
    events: list           # new event-log entries since the cursor
    cursor: tuple          # pass back to get only newer rows and events


@contextlib.contextmanager
def held(head, timeout: float = _LOCK_TIMEOUT):
    """Hold the head's lock if it can be had within ``timeout``; yields success."""
    ok = head._lock.acquire(timeout=timeout)
    try:
        yield ok
    finally:
        if ok:
            head._lock.release()


def driver_head():
    """The head if this process is a driver with a running runtime, else None."""
    core = _context.peek()
    if core is None or not getattr(core, "is_driver", False) or getattr(core, "_closed", True):
        return None
    return core


def _look(head, read):
    """``read(head)`` under the head's lock if it is free within 50 ms, else None."""
    head = head or driver_head()
    if head is None:
        return None
    with held(head) as ok:
        return read(head) if ok else None


def ref_info(oid: bytes, head=None) -> RefInfo | None:
    """State, size and location of an object, or None if the head cannot say right now."""
    def read(head):
        obj = head.objects.get(oid)
        if obj is None:
            return RefInfo("freed", 0, (), None)
        if not obj.ready:
            producer = obj.producer
            return RefInfo("pending", 0, (), producer.spec.name if producer is not None else None)
        size = obj.size if obj.kind != 0 else len(obj.data or b"")
        locs = tuple(obj.locs) if obj.kind != 0 else (0,)
        return RefInfo("failed" if obj.is_error else "ready", size, locs, None)
    return _look(head, read)


def actor_info(aid: bytes, head=None) -> ActorInfo | None:
    """Class, name, state, node, pid and restarts of an actor, or None."""
    def read(head):
        a = head.actors.get(aid)
        return None if a is None else _actor_info(a)
    return _look(head, read)


def _actor_info(a) -> ActorInfo:
    w = a.worker
    err = a.error
    return ActorInfo(a.class_name, a.name, a.namespace, a.state,
                     w.node if w is not None else None,
                     w.pid if w is not None and not w.dead else None, a.restarts,
                     str(err).splitlines()[0] if err is not None else None)


def _tail(dq, last):
    """Items of deque ``dq`` appended after the item ``last`` (identity), oldest first.

    Walks back from the newest item, so the cost is the number of new items. If
    ``last`` has already been dropped from the deque, every item is new.
    """
    if last is None:
        return list(dq)
    new = []
    for item in reversed(dq):
        if item is last:
            break
        new.append(item)
    new.reverse()
    return new


def start_cursor(head, keep_rows: int = 0) -> tuple:
    """A cursor that skips the past, except the last ``keep_rows`` timeline rows."""
    with held(head, 1.0):
        rows, events = head.timeline_rows, head.event_log
        row_mark = None
        if rows and len(rows) > keep_rows:
            row_mark = rows[len(rows) - keep_rows - 1]
        return (row_mark, events[-1] if events else None)


def idle_since(head, cursor) -> bool:
    """True if nothing was recorded since ``cursor`` (no lock: reads two deque ends)."""
    try:
        rows, events = head.timeline_rows, head.event_log
        return (rows[-1] if rows else None) is cursor[0] and \
            (events[-1] if events else None) is cursor[1]
    except IndexError:            # emptied meanwhile
        return False


def live_snapshot(head, cursor: tuple, timeout: float = _LOCK_TIMEOUT) -> LiveSnapshot | None:
    """Everything the live view draws, plus what was recorded since ``cursor``."""
    import time
    with held(head, timeout) as ok:
        if not ok or head._closed:
            return None
        rows = _tail(head.timeline_rows, cursor[0])
        events = _tail(head.event_log, cursor[1])
        nodes, workers = [], []
        paused = head.debug.paused_workers()
        for n in head.nodes:
            st = n.store
            nodes.append(NodeView(n.index, n.total.get("CPU", 0.0), n.avail.get("CPU", 0.0),
                                  st.used, st.capacity, st.spilled_bytes,
                                  getattr(n, "alive", True)))
            for w in n.workers:
                t = w.task
                actor = w.actor
                if actor is not None and actor.inflight:      # the call it runs now
                    t = next(iter(actor.inflight.values()))[0]
                workers.append(WorkerView(n.index, w.wid, w.pid,
                                          actor.class_name if actor is not None else None,
                                          t.spec.name if t is not None else None,
                                          t.spec.tid if t is not None else None,
                                          w.wid in paused))
        actors = [_actor_info(a) for a in head.actors.values()]
        # An actor's creation task stays in the task table while the actor lives.
        creating = sum(1 for a in head.actors.values()
                       if a.creation is not None and not a.creation.done)
        new_cursor = (rows[-1] if rows else cursor[0], events[-1] if events else cursor[1])
        return LiveSnapshot(time.time(), head.started_at, nodes, workers, actors,
                            len(head.tasks) - creating, rows, events, new_cursor)
