r"""A task on the head's side: its record, and the hooks of its kind.

The scheduler (``_scheduler.py``) moves every :class:`Task` through the same
steps; what a step does depends on the task's *kind* (``TaskSpec.kind``),
answered by a :class:`Kind` object. This base class is plain tasks'; the
actor part plugs in its own for ``"actor"`` (a creation) and ``"call"`` (a
method call) (``_actor_hooks.py``)::

    submitted --> (dependencies ready) ready --> placed: start --> done
                                                    \--> start_failed / unschedulable
    cancel: check_cancel (may refuse) --> cancel

Always used under the head's lock.
"""

from __future__ import annotations

import os
import signal

from ._serial import FILE, error_results
from ._worker_signals import CANCEL_SIGNAL
from .exceptions import TaskCancelledError, TaskUnschedulableError


class Task:
    """The head's record of one submitted task, actor creation or actor call."""

    __slots__ = ("spec", "waiting", "attempt", "node", "worker", "cancelled", "done",
                 "children", "streamed", "started")

    def __init__(self, spec):
        self.spec = spec
        self.waiting = False      # an actor call whose arguments are not ready yet
        self.attempt = 0
        self.node = None          # index of the node it was placed on (its ledger holds it)
        self.worker = None
        self.cancelled = False
        self.done = False
        self.children = None      # tasks submitted while this one ran (for recursive cancel)
        self.streamed = None      # a streaming task: how many values it has yielded
        self.started = None       # time.monotonic() it was last sent to a worker


class Kind:
    """How the scheduler runs one kind of task; the defaults are a plain task's."""

    reuse_idle = True         # may run on a pooled idle worker (an actor needs its own)

    def __init__(self, sched):
        self.sched = sched

    def submitted(self, task) -> None:
        """Just registered, its arguments pinned (it may fail ``task`` already)."""

    def ready(self, task) -> None:
        """Its arguments are ready: queue it for placement."""
        self.sched.enqueue(task)

    def start(self, task, worker, args, deps) -> None:
        """Placed, with a worker: send it."""
        worker.task = task
        send_task(self.sched, worker, task.spec, args, deps)
        self.sched.pipeline.running(worker)

    def start_failed(self, task, error) -> None:
        """No worker could be started for it."""
        self.sched.release(task)
        self.sched.fail(task, error)

    def done(self, worker, task, results, retry) -> None:
        """The worker finished it: ``results`` are :class:`~minirt._protocol.Result`."""
        sched, spec = self.sched, task.spec
        n = worker.fn_calls[spec.fn_id] = worker.fn_calls.get(spec.fn_id, 0) + 1
        if spec.max_calls and n >= spec.max_calls:
            worker.retiring = True
        if not sched.pipeline.next_task(worker, task):     # (else its next task was sent)
            sched.release(task)
            sched.pipeline.closed(worker)
            sched.pool.give_back(worker)
        if retry and not task.cancelled and retries_left(task):
            sched.retry(task)
        else:
            if task.cancelled and any(r.is_error for r in results):
                results = error_results(spec.returns, cancelled_error(spec))
            elif spec.kind == "task" and any(r.is_error for r in results):
                sched.keep_failed(spec)           # its code raised: rerun() may want it
            sched.finish(task, results)
        sched.schedule()

    def check_cancel(self, task, force: bool) -> None:
        """Raise ValueError if ``cancel(ref, force=force)`` cannot apply to this kind."""

    def cancel(self, task, force: bool) -> None:
        """``cancel()`` of its ref: a waiting task never runs, a running one is interrupted."""
        sched = self.sched
        w = task.worker
        if w is None:                       # still waiting: it will never run
            sched.fail(task, cancelled_error(task.spec))
            return
        if force:
            w.exit_reason = "cancelled: minirt.cancel(force=True)"     # for head.log
            w.killed_for = task
            _signal(w.pid, signal.SIGKILL)
        else:   # the signal once "which task it is for" is in the pipe (WorkerCore.take_cancel)
            sched.send(w, ("cancel_task", None, task.spec.tid), now=True,
                       then=lambda: _signal(w.pid, CANCEL_SIGNAL))

    def node_minimum(self, task):
        """Resources a node must have in total (not free) to be chosen; None: any node."""
        return None

    def unschedulable(self, task, why: str) -> None:
        """No live node can ever run it (its node was removed)."""
        self.sched.fail(task, TaskUnschedulableError(f"task {task.spec.name} cannot run: {why}"))


def send_task(sched, worker, spec, args, deps) -> None:
    """Send a plain task to ``worker``, with its function if the worker has not loaded it."""
    fn = None
    if spec.fn_id not in worker.fns:
        fn = sched.fns[spec.fn_id]
        worker.fns.add(spec.fn_id)
    sched.send(worker, ("task", None, spec, fn, args, deps))


def _signal(pid: int, sig) -> None:
    try:
        os.kill(pid, sig)
    except OSError:
        pass


def needed(spec) -> list:
    """Ids whose values the worker reads: the ref arguments and the arguments' file."""
    return list(spec.deps) + [spec.args[2]] if spec.args[0] == FILE else list(spec.deps)


def retries_left(task) -> bool:
    """May the task run again? (For actor calls ``spec.max_retries`` is the method's
    ``max_task_retries``.)"""
    spec = task.spec
    return spec.max_retries < 0 or task.attempt < spec.max_retries


def cancelled_error(spec):
    return TaskCancelledError(f"task {spec.name} ({spec.tid.hex()}) was cancelled")
