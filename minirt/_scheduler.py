"""Tasks: waiting for their arguments, placement, running, retries and cancellation.

A submitted task waits until every top-level ``ObjectRef`` argument is ready
(*dependency resolution*), then joins the ready queue of its resource shape.
The scheduler places it on a node (:func:`~minirt._placement.place`), records
the resources in that node's ledger under the task, takes a worker there from
the pool (an idle one, or one forked without the lock: a callback), has its
large arguments copied there (copy threads), and sends the task::

    submit -> waiting for deps -> ready queue -> placed on node -> running
                  | an upstream failed             |                 |
                  v                                v                 v
            returns = that error          worker dies: retry?   done: store results,
                                                                free resources, next

A worker blocked in ``get``/``wait`` gives its CPUs back until it resumes
(see ``Control._blocking_request``), so recursive tasks cannot deadlock the pool.

Retries: a task whose worker died is re-run up to ``max_retries`` times
(``-1``: forever); with ``retry_exceptions`` an application error is too.
``max_calls`` retires a worker after it ran the same function N times.

Actors plug in through :class:`~minirt._tasks.Kind` hooks (``_tasks.py``, with
the :class:`~minirt._tasks.Task` record), one per ``TaskSpec.kind``: the
scheduler never branches on the kind itself. ``"task"`` is ``Kind``'s
default behaviour; the actor part registers ``"actor"`` (a creation, placed
like a task) and ``"call"`` (a method call, queued by its actor instead).
Always used under the head's lock.
"""

from __future__ import annotations

import collections
import time
from typing import NamedTuple

from ._objects import Obj
from ._pipeline import Pipeline
from ._placement import place
from ._tasks import Kind, Task, cancelled_error, needed, retries_left
from ._pool import describe_exit
from ._protocol import Result
from ._serial import FILE, INLINE, error_results
from ._streaming import item_id
from .exceptions import WorkerCrashedError

FAILED_MAX = 16     # failed tasks kept, arguments pinned, for minirt.util.debug.rerun
FAILED_ARGS_MAX = 256 << 20    # ...and their arguments together take at most these store bytes


class KeptFailure(NamedTuple):
    """A failed task kept for ``minirt.util.debug.rerun``."""
    spec: object          # its TaskSpec
    pinned: list          # the object ids of its arguments, pinned
    size: int             # their bytes in the store


class Scheduler:
    """Task life cycle and placement (see the module docstring).

    Args:
        table: the :class:`~minirt._objects.ObjectTable`.
        nodes: the head's list of nodes, shared.
        pool: the :class:`~minirt._pool.WorkerPool`.
        send: ``send(worker, message) -> bool``.
        event: ``event(kind, **fields)``.
        record: ``record(task, worker, t0, t1)`` adds a timeline row.
    """

    def __init__(self, table, nodes, pool, send, event, record):
        self.table = table
        self.nodes = nodes
        self.pool = pool
        self.send = send
        self.event = event
        self.record = record
        self.tasks: dict[bytes, Task] = {}
        self.ready: dict[tuple, collections.deque] = {}
        self.fns: dict[bytes, bytes] = {}
        self.kinds: dict[str, Kind] = {"task": Kind(self)}
        self.failed: collections.OrderedDict = collections.OrderedDict()  # tid -> KeptFailure
        self.failed_bytes = 0             # the store bytes their pinned arguments take
        self.pipeline = Pipeline(self)    # short tasks sent ahead to busy workers

    # --- submission and dependencies ----------------------------------------
    def submit(self, spec, from_worker=None) -> Task:
        task = Task(spec)
        self.tasks[spec.tid] = task
        parent = from_worker.task if from_worker is not None else None
        if parent is not None and not parent.done:
            if parent.children is None:
                parent.children = []
            parent.children.append(task)
        table = self.table
        for oid in spec.returns:
            obj = table.objects.get(oid)
            if obj is None:
                obj = table.objects[oid] = Obj()
            obj.producer = task
        for oid in spec.deps:
            table.incr(oid)
        for oid in spec.contained:
            table.incr(oid)
        if spec.args[0] == FILE:          # arguments large enough to be a file
            arg_oid = spec.args[2]
            table.incr(arg_oid)
            table.store(arg_oid, FILE, spec.args[1], False, (),
                        from_worker.node if from_worker is not None else 0,
                        f"{spec.name} (arguments)")
        if spec.num_returns == "streaming":
            task.streamed = 0
            self._hold_item(task)
        self.event("submit", task=spec.name, id=spec.tid, type=spec.kind)
        self.kinds[spec.kind].submitted(task)
        if not task.done:
            self._resolve(task)
        return task

    def _resolve(self, task) -> None:
        """Wait for the task's dependencies, then hand it to its kind (or fail it)."""
        if not task.spec.deps and task.spec.args[0] != FILE:   # most tasks: nothing to wait for
            self.deps_ready(task)
            return
        deps = set(task.spec.deps)
        if task.spec.args[0] == FILE:
            deps.add(task.spec.args[2])
        lost = self.table.lost(deps)
        if lost:
            self.fail(task, self.table.lost_error(lost))
            return
        objects = self.table.objects
        pending = [oid for oid in deps if not objects[oid].ready]
        if not pending:
            self.deps_ready(task)
            return
        self.table.watch(pending, len(pending), lambda _timed_out: self.deps_ready(task), None)

    def deps_ready(self, task) -> None:
        if task.done:
            return
        objects = self.table.objects
        for oid in task.spec.deps:
            obj = objects[oid]
            if obj.is_error:                       # an upstream failed: never run
                self.finish(task, [Result(r, INLINE, obj.data, True, ())
                                   for r in task.spec.returns])
                return
        self.kinds[task.spec.kind].ready(task)

    def enqueue(self, task) -> None:
        key = tuple(sorted(task.spec.resources.items()))
        q = self.ready.get(key)
        if q is None:
            q = self.ready[key] = collections.deque()
        q.append(task)
        self.schedule()

    # --- placement ------------------------------------------------------------
    def schedule(self) -> None:
        for q in self.ready.values():
            while q:
                task = q[0]
                if task.done:
                    q.popleft()
                    continue
                node = self._place(task)
                if node is None:
                    if self.pipeline.send_ahead(task):
                        q.popleft()
                        continue
                    break
                q.popleft()
                self._start(task, node)

    def _place(self, task):
        req = task.spec.resources
        nodes = self.nodes
        minimum = self.kinds[task.spec.kind].node_minimum(task)
        if len(nodes) == 1 and minimum is None:
            return nodes[0] if nodes[0].fits(req) else None
        arg_bytes = collections.Counter()     # where the large arguments already are
        objects = self.table.objects
        for oid in task.spec.deps:
            obj = objects.get(oid)
            if obj is not None and obj.kind == FILE:
                for n in obj.locs:
                    arg_bytes[n] += obj.size
        i = place(req, [n.ledger if n.alive else None for n in nodes], arg_bytes, minimum)
        return None if i is None else nodes[i]

    def _start(self, task, node) -> None:
        spec = task.spec
        kind = self.kinds[spec.kind]
        node.ledger.acquire(task, spec.resources)
        task.node = node.index
        # An idle worker at once, or one forked without the lock (then called later).
        self.pool.take(node, lambda worker, error: self._got_worker(task, node, worker, error),
                       kind.reuse_idle)

    def _got_worker(self, task, node, worker, error) -> None:
        spec = task.spec
        if error is not None:
            if task.done:                          # cancelled meanwhile
                self.release(task)
            else:
                self.kinds[spec.kind].start_failed(task, error)
            return
        self.event("place", task=spec.name, id=spec.tid, node=node.index,
                   worker=worker.wid, attempt=task.attempt)
        if self.table.fetch(needed(spec), node.index, lambda: self._send(task, worker, node)):
            self._send(task, worker, node)

    def _send(self, task, worker, node) -> None:
        """Its large arguments are on ``node`` now: send the task to ``worker``."""
        spec = task.spec
        if task.done or worker.dead:               # cancelled, or the worker died, meanwhile
            self.release(task)
            if task.done:
                self.pool.give_back(worker)
            else:
                task.node = None
                self.deps_ready(task)              # placed again
            self.schedule()
            return
        task.worker = worker
        task.started = time.monotonic()
        try:
            deps, args = self.descriptors(spec, node.index)
        except Exception as e:                     # e.g. the store could not take a copy
            self.release(task)
            self.pool.give_back(worker)
            self.fail(task, e)
            return
        self.kinds[spec.kind].start(task, worker, args, deps)

    def descriptors(self, spec, node_index):
        """The (kind, data) of the task's dependencies and arguments, for ``node_index``."""
        table = self.table
        deps = [table.descriptor(oid, node_index) for oid in spec.deps]
        if spec.args[0] == FILE:
            return deps, table.descriptor(spec.args[2], node_index)
        return deps, spec.args[:2]

    def release(self, holder) -> bool:
        """Give back what ``holder`` (a task or an actor) holds on any node; False if nothing."""
        return any([n.ledger.release(holder) for n in self.nodes])

    # --- completion ------------------------------------------------------------
    def on_done(self, worker, tid, results, t0, t1, retry=False) -> None:
        task = self.tasks.get(tid)
        if task is None or task.done:
            return
        self.record(task, worker, t0, t1)
        if task.spec.kind == "task":
            self.pipeline.ran(task.spec.fn_id, t1 - t0)
        self.kinds[task.spec.kind].done(worker, task, [Result(*r) for r in results], retry)

    def retry(self, task) -> None:
        task.attempt += 1
        task.node = task.worker = None
        self.event("retry", task=task.spec.name, id=task.spec.tid, attempt=task.attempt)
        self.deps_ready(task)

    # --- streaming generators (see _streaming.py) ------------------------------------
    def _hold_item(self, task) -> None:
        """Make the next value's object pending, produced by ``task``, held by the stream."""
        oid = item_id(task.spec.tid, task.streamed)
        self.table.incr(oid)
        obj = self.table.objects[oid]
        if not obj.ready:
            obj.producer = task

    def on_yield(self, worker, tid, result) -> None:
        task = self.tasks.get(tid)
        name = task.spec.name if task is not None else "stream"
        self.table.store(result.oid, result.kind, result.data, result.is_error,
                         result.contained, worker.node, name)
        if task is not None and task.streamed is not None and \
                result.oid == item_id(tid, task.streamed):   # (a retry re-yields earlier ones)
            self.table.decr(result.oid)      # the worker's own ref keeps it now
            task.streamed += 1
            self._hold_item(task)

    def finish(self, task, results) -> None:
        """Store the task's results and drop what it pinned. Final: no more retries."""
        task.done = True
        spec = task.spec
        if task.streamed is not None:        # the value after the last is never coming
            oid = item_id(spec.tid, task.streamed)
            obj = self.table.objects.get(oid)
            if obj is not None and not obj.ready:
                obj.producer = None
            self.table.decr(oid)
        self.tasks.pop(spec.tid, None)
        node = task.node if task.node is not None else 0
        self.event("finish", task=spec.name, id=spec.tid, node=node, type=spec.kind,
                   error=any(r.is_error for r in results))
        table = self.table
        for r in results:
            table.store(r.oid, r.kind, r.data, r.is_error, r.contained, node, spec.name)
        for oid in spec.deps:
            table.decr(oid)
        for oid in spec.contained:
            table.decr(oid)
        if spec.args[0] == FILE:
            table.decr(spec.args[2])

    def fail(self, task, error) -> None:
        self.finish(task, error_results(task.spec.returns, error))

    def keep_failed(self, spec) -> None:
        """Keep a task whose code raised, with its arguments pinned, for
        ``minirt.util.debug.rerun``; only the last :data:`FAILED_MAX` are kept, the
        oldest dropped first while their arguments together take more than
        :data:`FAILED_ARGS_MAX` bytes of the store."""
        failed, table = self.failed, self.table
        # Objects only: a pinned actor handle would keep its actor alive.
        pinned = [oid for oid in needed(spec) + list(spec.contained) if oid in table.objects]
        size = sum(table.objects[oid].size or 0 for oid in pinned)
        if size > FAILED_ARGS_MAX:
            return
        for oid in pinned:
            table.incr(oid)
        failed[spec.tid] = KeptFailure(spec, pinned, size)
        self.failed_bytes += size
        while len(failed) > FAILED_MAX or self.failed_bytes > FAILED_ARGS_MAX:
            _, old = failed.popitem(last=False)
            self.failed_bytes -= old.size
            for oid in old.pinned:
                table.decr(oid)

    # --- failures -----------------------------------------------------------------
    def worker_died(self, worker, code) -> None:
        """Retry or fail the task ``worker`` was running (exit status ``code``, None if unknown)."""
        task = worker.task
        for t in self.pipeline.take_back(worker):      # queued: never started
            self.deps_ready(t)
        if task is not None and not task.done and worker.killed_for not in (None, task):
            # cancel(force=True) of the task before it: its "done" came with the death
            self.release(task)
            task.node = task.worker = None
            self.deps_ready(task)
        elif task is not None and not task.done:
            self.release(task)
            spec = task.spec
            node = self.nodes[worker.node]
            # The dead attempt may have written result files before dying: remove them.
            for oid in spec.returns:
                if oid not in node.store:
                    self.table.discard_file(oid, node.index)
            if task.cancelled:
                self.fail(task, cancelled_error(spec))
            elif retries_left(task) and not getattr(worker.exit_error, "no_retry", False):
                self.retry(task)
            elif worker.exit_error is not None:      # e.g. killed by the memory monitor
                self.fail(task, worker.exit_error)
            else:
                self.fail(task, WorkerCrashedError(
                    f"the worker running {spec.name} (pid {worker.pid}) died "
                    f"({describe_exit(code)}); retries used: {task.attempt} of "
                    f"max_retries={spec.max_retries}"))
        self.schedule()

    def cancel(self, oid, force, recursive) -> None:
        obj = self.table.objects.get(oid)
        task = obj.producer if obj is not None else None
        if task is None or task.done:
            return
        self._cancel_task(task, force, recursive)

    def _cancel_task(self, task, force, recursive) -> None:
        if task.done or task.cancelled:
            return
        kind = self.kinds[task.spec.kind]
        kind.check_cancel(task, force)
        task.cancelled = True
        self.event("cancel", task=task.spec.name, id=task.spec.tid, force=force)
        if self.pipeline.cancel(task):          # queued on a busy worker: never runs
            self.fail(task, cancelled_error(task.spec))
            return
        if recursive and task.children:
            for child in task.children:
                try:
                    self._cancel_task(child, force, recursive)
                except ValueError:          # a child that cannot be cancelled so
                    pass
        kind.cancel(task, force)
