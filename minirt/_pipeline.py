"""Pipelining: a busy worker is sent its next short task before it finishes the one it runs.

Without it a worker waits for the head between two tasks: its "done" crosses
the pipe, the control thread wakes, takes the lock, stores the result and only
then sends the next task. For tasks of a few microseconds that wait is most
of the time. So when every CPU is taken, a task of a *short* function (one
whose recent runs took under :data:`SHORT` seconds) may be sent at once to a
worker that runs a task of the same resource shape, to wait in that worker's
pipe (at most :data:`DEPTH` per worker)::

    schedule: no free CPU --> short function? a busy worker running a short one (for
                             less than LATE so far), same shape, queue < DEPTH?
                                 yes: send it now, worker.queue.append(task)
    "done" from the worker --> the first queued task is the running one now: the
                               finished task's resources pass to it (ledger)
    the running task blocks (get, wait, breakpoint), or the worker died
                           --> the queue is taken back: ("drop_tasks", tids) to the
                               worker (it skips them), each placed again, no attempt used
    cancel of a queued task --> taken back the same way, and fails at once

A queued task waits for the one before it: a few milliseconds, unless that one
runs far longer than its function did so far (the queue cannot be taken back
from a worker busy in user code without risking a second run). The lessons'
timing stories use tasks of a second or so, which are never queued.

Queued tasks hold no resources: ``available_resources()`` and the ledger's
``available <= total`` are as without pipelining. Tasks of functions with
``max_calls``, streaming tasks and tasks whose large arguments are on another
node are never queued. A queued task is ``RUNNING`` for the state API (it is
placed on its worker, as the "place" event says).

Always used under the head's lock, by the scheduler (``_scheduler.py``).
"""

from __future__ import annotations

import time

from ._serial import FILE
from ._tasks import needed, send_task

DEPTH = 4           # tasks queued on one worker, at most
SHORT = 0.002       # seconds: a function whose runs take about this long or less is short
LATE = 0.05         # seconds: a running task older than this is not queued behind


class Pipeline:
    """The per-worker queues of tasks sent ahead (see the module docstring).

    Args:
        sched: the :class:`~minirt._scheduler.Scheduler`.
    """

    def __init__(self, sched):
        self.sched = sched
        self.open: dict = {}          # worker -> None: running a task, room in its queue
        self.fn_time: dict = {}       # fn_id -> recent run time (seconds, smoothed)
        self.sent = 0                 # tasks sent ahead so far (the benchmark reports it)
        self.taken_back = 0           # ...and taken back (a blocked or dead worker, a cancel)

    def ran(self, fn_id, seconds: float) -> None:
        """A task of ``fn_id`` ran for ``seconds`` (its worker's clock)."""
        old = self.fn_time.get(fn_id)
        self.fn_time[fn_id] = seconds if old is None else max(seconds, (old + seconds) / 2)

    def running(self, worker) -> None:
        """``worker`` started a plain task: it may take a queue."""
        self.open[worker] = None

    def closed(self, worker) -> None:
        """``worker`` takes no more queued tasks (idle, blocked, retiring or dead)."""
        self.open.pop(worker, None)

    def send_ahead(self, task) -> bool:
        """No CPU is free for ``task``: queue it on a busy worker if it is short; True if sent."""
        spec = task.spec
        if (spec.kind != "task" or spec.max_calls or spec.num_returns == "streaming"
                or task.cancelled or self.fn_time.get(spec.fn_id, SHORT) >= SHORT
                or not self.open):
            return False
        best = None
        fn_time, late = self.fn_time, time.monotonic() - LATE
        for w in self.open:                 # behind a short task that is not late: the
            t = w.task                      # wait is a few milliseconds at most
            if (not w.retiring and not w.dead and t is not None
                    and t.spec.resources == spec.resources
                    and fn_time.get(t.spec.fn_id, SHORT) < SHORT
                    and t.started is not None and t.started > late
                    and (best is None or len(w.queue) < len(best.queue))):
                best = w
                if not w.queue:
                    break
        if best is None or not self._args_there(spec, best.node):
            return False
        sched = self.sched
        try:
            deps, args = sched.descriptors(spec, best.node)
        except Exception:  # noqa: BLE001 - e.g. a failed copy: the usual path reports it
            return False
        task.node, task.worker = best.node, best
        best.queue.append(task)
        if len(best.queue) >= DEPTH:
            del self.open[best]
        self.sent += 1
        sched.event("place", task=spec.name, id=spec.tid, node=best.node,
                    worker=best.wid, attempt=task.attempt)
        send_task(sched, best, spec, args, deps)
        return True

    def _args_there(self, spec, node: int) -> bool:
        """Are the task's large arguments in ``node``'s store already (no copy needed)?"""
        objects = self.sched.table.objects
        for oid in needed(spec):
            obj = objects.get(oid)
            if obj is None or (obj.kind == FILE and node not in obj.locs):
                return False
        return True

    def next_task(self, worker, finished) -> bool:
        """``worker`` finished its running task ``finished``: make the first queued one
        the running one, the resources passing to it. False if nothing was queued."""
        if not worker.queue:
            return False
        nxt = worker.queue.popleft()
        if not worker.retiring:
            self.open[worker] = None
        self.sched.nodes[worker.node].ledger.hand_over(finished, nxt)   # same resources
        worker.task = nxt
        nxt.started = time.monotonic()
        return True

    def take_back(self, worker) -> list:
        """Take ``worker``'s queue back (it will skip those tasks); return the tasks."""
        self.closed(worker)
        tasks = list(worker.queue)
        worker.queue.clear()
        if tasks:
            self.taken_back += len(tasks)
            self.sched.send(worker, ("drop_tasks", None, [t.spec.tid for t in tasks]))
            for t in tasks:
                t.node = t.worker = None
        return tasks

    def cancel(self, task) -> bool:
        """``cancel()`` of a task: if it is queued, take it back; True if it was."""
        w = task.worker
        if w is None or w.task is task or task not in w.queue:
            return False
        w.queue.remove(task)
        if w.task is not None and not w.retiring and not w.dead:
            self.open[w] = None
        self.taken_back += 1
        self.sched.send(w, ("drop_tasks", None, [task.spec.tid]))
        task.node = task.worker = None
        return True
