"""Tasks, nodes and workers: deciding what runs where, and what happens after.

A submitted task waits until every top-level ``ObjectRef`` argument is ready
(*dependency resolution*), then joins the ready queue of its resource shape.
The scheduler places it on a node with enough free logical resources, takes
an idle worker there (or forks a new one), copies large arguments that live
on other nodes into that node's store, and sends the task::

    submit -> waiting for deps -> ready queue -> placed on node -> running
                  | an upstream failed             |                 |
                  v                                v                 v
            returns = that error          worker dies: retry?   done: store results,
                                                                free resources, next

Placement follows Ray's default "hybrid" policy: prefer the node that
already holds most of the task's large arguments; otherwise the first node
(the driver's first) that is less than half busy; otherwise the least busy
one that fits. A worker blocked in ``get``/``wait`` gives its CPUs back until
it resumes, so recursive tasks cannot deadlock the pool.

Retries: a task whose worker died is re-run up to ``max_retries`` times
(``-1``: forever); with ``retry_exceptions`` an application error is too.
``max_calls`` retires a worker after it ran the same function N times.
Used as a mixin of :class:`~minirt._head.Head`, always under the head's lock.
"""

from __future__ import annotations

import collections
import errno
import os
import signal

from . import _procs, _worker
from ._ledger import Ledger
from ._placement import place
from ._objects import Obj
from ._serial import FILE, error_bytes
from .exceptions import ActorDiedError, TaskCancelledError, WorkerCrashedError

_SPAWN_TRIES = 3


class _Node:
    """One (simulated) node: its resource ledger, worker pool and object store."""

    __slots__ = ("index", "node_id", "ledger", "idle", "workers", "store", "alive")

    def __init__(self, index, node_id, total, store):
        self.index = index
        self.node_id = node_id
        self.ledger = Ledger(total)
        self.idle: list = []
        self.workers: set = set()
        self.store = store
        self.alive = True         # False once removed (cluster_utils.Cluster.remove_node)

    @property
    def total(self) -> dict:
        return self.ledger.total

    @property
    def avail(self) -> dict:
        return self.ledger.avail

    def fits(self, req) -> bool:
        return self.alive and self.ledger.fits(req)


class _Worker:
    __slots__ = ("wid", "node", "proc", "conn", "pid", "task", "fns", "actor", "held",
                 "fn_calls", "dead", "retiring", "inflight_bytes", "reader", "pidfd",
                 "exited", "status_gone")

    def __init__(self, wid, node, proc, conn):
        self.wid = wid
        self.node = node
        self.proc = proc
        self.conn = conn
        self.pid = proc.pid
        self.task = None          # the task it is running (tasks only)
        self.fns: set = set()     # function ids it has loaded
        self.actor = None         # the _Actor it hosts, if any
        self.held: set = set()    # ids this process holds refs to
        self.fn_calls: dict = {}  # fn_id -> completed calls (for max_calls)
        self.dead = False
        self.retiring = False
        self.inflight_bytes = 0
        self.reader = None        # _MessageReader of its pipe (see _head.py)
        self.pidfd = None         # readable once the process has exited
        self.exited = False       # its pidfd fired (or it was gone at registration)
        self.status_gone = False  # the forkserver that knew its exit status died


class _Task:
    __slots__ = ("spec", "pending", "attempt", "node", "worker", "cancelled", "done",
                 "children")

    def __init__(self, spec):
        self.spec = spec
        self.pending = 0
        self.attempt = 0
        self.node = None          # index of the node it was placed on (its ledger holds it)
        self.worker = None
        self.cancelled = False
        self.done = False
        self.children = None      # tasks submitted while this one ran (for recursive cancel)


class _Scheduler:
    """Mixin: task life cycle, placement, worker pool."""

    def _init_scheduler(self) -> None:
        self.tasks: dict[bytes, _Task] = {}
        self.ready: dict[tuple, collections.deque] = {}
        self.fns: dict[bytes, bytes] = {}
        self._wids = 0

    # --- submission and dependencies ----------------------------------------
    def _submit(self, spec, from_worker=None) -> None:
        task = _Task(spec)
        self.tasks[spec.tid] = task
        if spec.kind == "actor":        # known before placement, which may happen right below
            self.actors[spec.actor_id].creation = task
        parent = from_worker.task if from_worker is not None else None
        if parent is not None and not parent.done:
            if parent.children is None:
                parent.children = []
            parent.children.append(task)
        for oid in spec.returns:
            obj = self.objects.get(oid)
            if obj is None:
                obj = self.objects[oid] = Obj()
            obj.producer = task
        for oid in spec.deps:
            self.table.incr(oid)
        for oid in spec.contained:
            self.table.incr(oid)
        if spec.args[0] == 1:          # arguments large enough to be a file
            self._store_args(spec, from_worker)
        self._event("submit", task=spec.name, id=spec.tid, type=spec.kind)
        if spec.kind == "call":
            self._enqueue_call(task)
        if not task.done:
            self._resolve(task)

    def _store_args(self, spec, from_worker) -> None:
        arg_oid = spec.args[2]
        node = from_worker.node if from_worker is not None else 0
        self.table.incr(arg_oid)
        self.table.store(arg_oid, 1, spec.args[1], False, (), node, f"{spec.name} (arguments)")

    def _resolve(self, task) -> None:
        """Wait for the task's dependencies, then queue it (or fail it)."""
        deps = set(task.spec.deps)
        if task.spec.args[0] == 1:
            deps.add(task.spec.args[2])
        lost = self.table.lost(deps)
        if lost:
            self._fail(task, self.table.lost_error(lost))
            return
        pending = [oid for oid in deps if not self.objects[oid].ready]
        if not pending:
            self._deps_ready(task)
            return
        task.pending = len(pending)

        def one_ready(_timed_out, task=task):
            self._deps_ready(task)
        self.table.watch(pending, len(pending), one_ready, None)

    def _deps_ready(self, task) -> None:
        if task.done:
            return
        for oid in task.spec.deps:
            obj = self.objects[oid]
            if obj.is_error:                       # an upstream failed: never run
                self._finish(task, [(r, 0, obj.data, True, ()) for r in task.spec.returns])
                return
        if task.spec.kind == "call":
            self._call_ready(task)
            return
        key = tuple(sorted(task.spec.resources.items()))
        q = self.ready.get(key)
        if q is None:
            q = self.ready[key] = collections.deque()
        q.append(task)
        self._schedule()

    # --- placement ------------------------------------------------------------
    def _schedule(self) -> None:
        for q in self.ready.values():
            while q:
                task = q[0]
                if task.done:
                    q.popleft()
                    continue
                node = self._place(task)
                if node is None:
                    break
                q.popleft()
                self._start(task, node)

    def _place(self, task):
        req = task.spec.resources
        nodes = self.nodes
        if len(nodes) == 1:
            return nodes[0] if nodes[0].fits(req) else None
        arg_bytes = collections.Counter()     # where the large arguments already are
        for oid in task.spec.deps:
            obj = self.objects.get(oid)
            if obj is not None and obj.kind == FILE:
                for n in obj.locs:
                    arg_bytes[n] += obj.size
        i = place(req, [n.ledger if n.alive else None for n in nodes], arg_bytes)
        return None if i is None else nodes[i]

    def _start(self, task, node) -> None:
        spec = task.spec
        node.ledger.acquire(task, spec.resources)
        task.node = node.index
        try:
            worker = node.idle.pop() if (spec.kind == "task" and node.idle) else self._spawn(node)
        except WorkerCrashedError as e:
            if spec.kind == "actor":     # releases the resources and finishes `task`
                self._actor_dead(self.actors[spec.actor_id], ActorDiedError(
                    f"the actor {spec.actor_opts.get('class_name')} could not be started: {e}"))
            else:
                self._release(task)
                self._fail(task, e)
            return
        task.worker = worker
        self._event("place", task=spec.name, id=spec.tid, node=node.index,
                    worker=worker.wid, attempt=task.attempt)
        try:
            deps = [self.table.descriptor(oid, node.index) for oid in spec.deps]
            args = self._args_descriptor(spec, node.index)
        except Exception as e:                     # e.g. the store could not take a copy
            self._release(task)
            self._return_worker(worker)
            self._finish(task, [(r, 0, error_bytes(e), True, ()) for r in spec.returns])
            return
        if spec.kind == "actor":
            self._send_actor_create(task, worker, args, deps)
            return
        worker.task = task
        fn = None
        if spec.fn_id not in worker.fns:
            fn = self.fns[spec.fn_id]
            worker.fns.add(spec.fn_id)
        self._send(worker, ("task", None, spec, fn, args, deps))

    def _args_descriptor(self, spec, node_index):
        if spec.args[0] == 1:
            return self.table.descriptor(spec.args[2], node_index)
        return spec.args[:2]

    # --- workers --------------------------------------------------------------
    def _spawn(self, node):
        """Fork a worker on ``node``. Raises WorkerCrashedError if that keeps failing."""
        for attempt in range(_SPAWN_TRIES):
            self._wids += 1
            try:
                parent, child = _procs.new_pipe()
            except OSError as e:
                raise WorkerCrashedError(_no_resources(e, node)) from e
            cfg = dict(self.worker_cfg, node=node.index, shm_dir=node.store.shm_dir,
                       spill_dir=node.store.spill_dir, node_id=node.node_id, wid=self._wids)
            try:
                proc = _procs.start_process(_worker.main, (child, cfg),
                                            f"minirt-worker-{self._wids}")
                break
            except (OSError, EOFError) as e:   # the newborn (or the forkserver) died early
                parent.close()
                error = e
                if getattr(e, "errno", None) in (errno.EMFILE, errno.ENFILE, errno.EAGAIN,
                                                 errno.ENOMEM):
                    raise WorkerCrashedError(_no_resources(e, node)) from e
            finally:
                child.close()
        else:
            raise WorkerCrashedError(f"could not start a worker process on node {node.index} "
                                     f"({_SPAWN_TRIES} tries; last error: {error})")
        w = _Worker(self._wids, node.index, proc, parent)
        node.workers.add(w)
        self.workers[parent.fileno()] = w
        self._register_worker(w)
        self.janitor.watch(w.pid)
        self._event("worker_start", worker=w.wid, node=node.index, pid=w.pid)
        return w

    def _return_worker(self, worker) -> None:
        worker.task = None
        if worker.dead or worker.actor is not None:
            return
        node = self.nodes[worker.node]
        if worker.retiring:
            self._retire(worker)
            return
        node.idle.append(worker)
        # Keep no more idle workers than the node has CPUs (recursion can fork many).
        limit = max(1, int(node.total.get("CPU", 1)))
        while len(node.idle) > limit:
            self._retire(node.idle.pop(0))

    def _retire(self, worker) -> None:
        worker.retiring = True
        node = self.nodes[worker.node]
        if worker in node.idle:
            node.idle.remove(worker)
        self._send(worker, ("exit", None))

    def _release(self, holder) -> bool:
        """Give back what ``holder`` (a task or an actor) holds on any node; False if nothing."""
        return any([n.ledger.release(holder) for n in self.nodes])

    # --- completion ------------------------------------------------------------
    def _on_done(self, worker, tid, results, t0, t1, retry=False) -> None:
        task = self.tasks.get(tid)
        if task is None or task.done:
            return
        spec = task.spec
        self._record(spec, task, worker, t0, t1)
        if spec.kind == "call":
            self._call_done(worker, task, results, retry)
            return
        self._release(task)
        n = worker.fn_calls[spec.fn_id] = worker.fn_calls.get(spec.fn_id, 0) + 1
        if spec.max_calls and n >= spec.max_calls:
            worker.retiring = True
        self._return_worker(worker)
        if retry and not task.cancelled and self._retries_left(task):
            self._retry(task)
        else:
            if task.cancelled and any(r[3] for r in results):
                results = [(r, 0, error_bytes(self._cancelled_error(spec)), True, ())
                           for r in spec.returns]
            self._finish(task, results)
        self._schedule()

    @staticmethod
    def _retries_left(task) -> bool:
        """May an application error the worker found retryable be retried? (For actor
        calls the limit in ``spec.max_retries`` is the method's ``max_task_retries``.)"""
        spec = task.spec
        return spec.max_retries < 0 or task.attempt < spec.max_retries

    def _retry(self, task) -> None:
        task.attempt += 1
        task.node = task.worker = None
        self._event("retry", task=task.spec.name, id=task.spec.tid, attempt=task.attempt)
        self._deps_ready(task)

    def _finish(self, task, results) -> None:
        """Store the task's results and drop what it pinned. Final: no more retries."""
        task.done = True
        spec = task.spec
        self.tasks.pop(spec.tid, None)
        node = task.node if task.node is not None else 0
        self._event("finish", task=spec.name, id=spec.tid, node=node,
                    error=any(r[3] for r in results))
        for oid, kind, data, is_error, contained in results:
            self.table.store(oid, kind, data, is_error, contained, node, spec.name)
        for oid in spec.deps:
            self.table.decr(oid)
        for oid in spec.contained:
            self.table.decr(oid)
        if spec.args[0] == 1:
            self.table.decr(spec.args[2])

    def _fail(self, task, error) -> None:
        self._finish(task, [(r, 0, error_bytes(error), True, ()) for r in task.spec.returns])

    @staticmethod
    def _cancelled_error(spec):
        return TaskCancelledError(f"task {spec.name} ({spec.tid.hex()}) was cancelled")

    # --- failures -----------------------------------------------------------------
    def _on_worker_death(self, worker, code) -> None:
        """The worker's process has exited with status ``code`` (None if unknown)."""
        if worker.dead:
            return
        worker.dead = True
        self._unregister_worker(worker)
        node = self.nodes[worker.node]
        node.workers.discard(worker)
        if worker in node.idle:
            node.idle.remove(worker)
        self.janitor.forget(worker.pid)
        _procs.kill_tree(worker.pid)      # what its tasks started in its process group
        _procs.mark_exited(worker.proc, code)     # frees the Process's descriptors
        self._event("worker_exit", worker=worker.wid, node=worker.node, exitcode=code)
        for oid in list(worker.held):
            self.table.decr(oid)
        worker.held.clear()
        if worker.actor is not None:
            self._actor_died(worker.actor, worker, code)
        task = worker.task
        if task is not None and not task.done:
            self._release(task)
            spec = task.spec
            # The dead attempt may have written result files before dying: remove them.
            for oid in spec.returns:
                if oid not in node.store:
                    self.table.discard_file(oid, node.index)
            if task.cancelled:
                self._fail(task, self._cancelled_error(spec))
            elif spec.max_retries < 0 or task.attempt < spec.max_retries:
                self._retry(task)
            else:
                self._fail(task, WorkerCrashedError(
                    f"the worker running {spec.name} (pid {worker.pid}) died "
                    f"({_describe_exit(code)}); retries used: {task.attempt} of "
                    f"max_retries={spec.max_retries}"))
        self._schedule()

    def _cancel(self, oid, force, recursive) -> None:
        obj = self.objects.get(oid)
        task = obj.producer if obj is not None else None
        if task is None or task.done:
            return
        if task.spec.kind != "task":
            raise ValueError("minirt.cancel() cancels tasks; to stop an actor use minirt.kill(actor)")
        self._cancel_task(task, force, recursive)

    def _cancel_task(self, task, force, recursive) -> None:
        if task.done or task.cancelled:
            return
        task.cancelled = True
        self._event("cancel", task=task.spec.name, id=task.spec.tid, force=force)
        if recursive and task.children:
            for child in task.children:
                if child.spec.kind == "task":
                    self._cancel_task(child, force, recursive)
        w = task.worker
        if w is None:                       # still waiting: it will never run
            self._fail(task, self._cancelled_error(task.spec))
            return
        try:
            os.kill(w.pid, signal.SIGKILL if force else _worker.CANCEL_SIGNAL)
        except OSError:
            pass


def _no_resources(error: OSError, node) -> str:
    return (f"could not start a worker process on node {node.index}: {error.strerror or error}. "
            "The machine or this user ran out of processes or open files; running work is "
            "not affected. Drop actors you no longer need (minirt.kill or del the handle), or "
            "raise the limit (`ulimit -n`, `ulimit -u`) before starting Python")


def _describe_exit(code) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
