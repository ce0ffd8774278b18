"""The head: minirt's control plane, living inside the driver process.

There is no separate server. ``init()`` creates a :class:`Head` in the
driver. It holds the nodes and composes the parts that do the work, each
depending only on the ones below it (an arrow: "calls")::

    api.py --> Head (one lock) --> Actors --Kind hooks--> Scheduler --> WorkerPool
                 ^     |             |                     |   place() over Ledgers
                 |     +-------------+---------------------+--> ObjectTable
    Control (the control thread): worker pipes, pidfds --> the same parts

Two kinds of threads use the parts, always under the head's one lock:

* the user's threads, calling the API (``f.remote()``, ``get``...) directly:
  no hand-off to another thread on the way in;
* the *control thread* (``_control.py``), which waits on every worker's pipe
  and pidfd and handles what arrives: results, nested requests, deaths.

(The memory monitor's thread, ``_memory_monitor.py``, only takes the lock for a
moment to choose a worker to kill; it reads memory and kills outside it. The
helper threads below take it only to record what they did, through
:meth:`Head._locked`.)

Nothing slow runs under the lock: cross-node copies run on copy threads
(:meth:`~minirt._objects.ObjectTable.fetch`), spills on the spill thread
(``_spill.py``), forks on the pool's fork thread (``_pool.py``), task output
is written to stdout outside it, and ``remove_node`` waits for its workers
without it. A part that needs such work done asks for it under the lock and
gets a callback under the lock once it is done (it re-checks then).

::

    notebook thread --submit/get/put--+            +--> worker 1 (node 0)
                                      v            |
                            Head (lock) --pipes----+--> worker 2 (node 0)
                                      ^            |
    control thread --select(pipes, pidfds)---------+--> worker 3 (node 1)

Errors: a bug in the control thread must not leave callers waiting on
half-applied state. Like ``concurrent.futures``' ``BrokenProcessPool``, the
head is then marked *broken*: every blocked ``get``/``wait`` and every later
call raises :class:`~minirt.exceptions.RuntimeBrokenError` (its ``__cause__``
is the internal error) until ``shutdown()``. ``shutdown()`` likewise wakes
every thread blocked in ``get``/``wait`` with ``RuntimeShutdownError``.
"""

from __future__ import annotations

import collections
import multiprocessing.util
import os
import sys
import tempfile
import threading
import time

from . import _admin, _debugger, _logs, _memory_monitor, _procs, _protocol, _refs, _teardown, _waiting
from ._actors import Actors
from ._control import Control
from ._memory_monitor import MemoryMonitor
from ._nodes import Node, NodeSpec, fail_unschedulable, largest_node, lose_objects
from ._objects import ObjectTable
from ._pool import WorkerPool
from ._scheduler import Scheduler
from ._serial import FILE
from .exceptions import RuntimeBrokenError, RuntimeShutdownError

TIMELINE_MAX = 200_000     # executions kept for timeline(); oldest dropped first
EVENTS_MAX = 20_000        # events kept for events()


class Head:
    """The control plane. One per driver; see the module docstring.

    It is the driver's :class:`~minirt._context.Core`: ``api.py`` calls its
    public methods, which take the lock, and the control thread does the rest.
    """

    is_driver = True
    worker_name = "driver"
    current_task = None
    actor_id = None
    was_restarted = False

    @property
    def node_id(self) -> str:
        return self.nodes[0].node_id

    def __init__(self, *, num_cpus: float, num_nodes: int, resources: dict,
                 object_store_memory: int, namespace: str, log_to_driver: bool,
                 node_specs: list | None = None):
        refresh, threshold = _memory_monitor.settings()   # a bad env var fails init at once
        self._lock = threading.RLock()
        self.namespace = namespace
        self.log_to_driver = log_to_driver
        self.started_at = time.time()
        self.timeline_rows: collections.deque = collections.deque(maxlen=TIMELINE_MAX)
        self.event_log: collections.deque = collections.deque(maxlen=EVENTS_MAX)
        self._closed = False
        # Sends: held during a control-thread turn; what a full pipe cannot take waits
        # there, and the control thread writes it when the pipe has room.
        self.outbox = _protocol.Outbox(lambda w, on: self.control.watch_writable(w, on))
        self._broken: BaseException | None = None   # the internal error that broke the runtime
        self._blocked: set[threading.Event] = set()  # driver threads blocked in get/wait
        self._prestart = True      # fork idle workers ahead of time (see WorkerPool.prestart_one)

        self.session_dir = tempfile.mkdtemp(prefix=f"minirt-session-{os.getpid()}-")
        # The session that outlives shutdown: logs and the control socket (see _logs.py).
        self.logs: _logs.Session | None = None
        self.admin: _admin.AdminServer | None = None
        try:
            self.logs = _logs.Session(namespace)
            # `minirt status` run by this process's children (a notebook's `!minirt ...`)
            # reaches this runtime, like Ray's RAY_ADDRESS (see minirt/util/cli.py).
            os.environ["MINIRT_ADDRESS"] = self.logs.path
        except OSError as e:
            sys.stderr.write(f"minirt: no session logs ({e}); set MINIRT_TMPDIR to a "
                             "writable directory to have them\n")
        shm_root = "/dev/shm" if os.path.isdir("/dev/shm") else self.session_dir
        self.shm_root = None
        try:                        # a failed start leaves nothing behind (see _abort_start)
            self.shm_root = tempfile.mkdtemp(prefix=f"minirt-{os.getpid()}-", dir=shm_root)
            if node_specs is None:      # num_nodes alike nodes (a Cluster gives its own specs)
                total = {"CPU": float(num_cpus), **{k: float(v) for k, v in resources.items()}}
                node_specs = [NodeSpec(os.urandom(28).hex(), total, object_store_memory)
                              for _ in range(num_nodes)]
            self.nodes: list[Node] = [Node(i, spec, self.shm_root, self.session_dir)
                                      for i, spec in enumerate(node_specs)]
            self.shm_dir = self.nodes[0].store.shm_dir
            self.spill_dir = self.nodes[0].store.spill_dir
            self.object_store_memory = object_store_memory
            self.max_node: dict[str, float] = largest_node(self.nodes)
            self.worker_cfg = dict(log_to_driver=log_to_driver, namespace=namespace,
                                   max_node=self.max_node, session_dir=self.session_dir,
                                   logs_dir=self.logs.logs_dir if self.logs else None)

            self.control = Control(self)    # the control thread and its selector (not started)
            # The parts, each depending only on those made before it (see the package map).
            self.table = ObjectTable(self.nodes, self._event, self.control.wake,
                                     lambda aid, delta: self.actors_part.count_handle(aid, delta),
                                     self._locked)
            self.pool = WorkerPool(self.nodes, self.worker_cfg, self.control.register_worker,
                                   self._send, self._event, self._locked,
                                   self.logs.log if self.logs else None)
            self.sched = Scheduler(self.table, self.nodes, self.pool, self._send, self._event,
                                   self._record)
            self.actors_part = Actors(self.sched)
            # Read by the state API, the notebook views and tests.
            self.objects, self.tasks = self.table.objects, self.sched.tasks
            self.actors = self.actors_part.actors
            self.debug = _debugger.Sessions(self._event)   # breakpoint() in workers

            self._forkserver_mine = _procs.prepare_forkserver()
            # The driver's multiprocessing temp dir (the forkserver's socket) is deleted at
            # exit by multiprocessing itself, but not if the driver is killed: the janitor does.
            self.janitor = _procs.Janitor([self.shm_root, self.session_dir],
                                          [multiprocessing.util.get_temp_dir()])
            if self.logs is not None:
                self.logs.log(f"head started: driver pid {os.getpid()}, "
                              f"{len(self.nodes)} node(s), namespace {namespace!r}")
                self.admin = _admin.AdminServer(self, self.logs.socket_path)
            self.control.start()
            self.memory_monitor = MemoryMonitor(self, refresh, threshold)
            self.memory_monitor.start()
            # Warm up: fork one worker per node now (nobody waits for the lock yet), so
            # the first task does not wait; the rest (up to the CPU count) when idle.
            with self._lock:
                for node in self.nodes:
                    node.idle.append(self.pool.spawn_now(node))
        except BaseException:
            self._abort_start()
            raise

    def _abort_start(self) -> None:
        """Undo a start that failed half-way (see ``_teardown.py``)."""
        _teardown.abort_start(self)

    # --- plumbing -----------------------------------------------------------------
    def _send(self, worker, msg, now: bool = False, then=None) -> bool:
        """Send to a worker; False if it is gone (its sentinel will report the death).
        During a control-thread turn the message is held until the turn ends, unless
        ``now``; ``then()`` runs once it is all in the pipe (see
        :class:`~minirt._protocol.Outbox`: sending never blocks)."""
        return self.outbox.send(worker, msg, now, then)

    def _drain_local(self) -> None:
        changes = _refs.local_refs.take_changes()
        if changes:
            self.control.apply_changes(changes)

    def _event(self, _kind: str, **fields) -> None:
        self.event_log.append(_protocol.Event(time.time(), _kind, fields))

    def _record(self, task, worker, t0, t1) -> None:
        spec = task.spec
        self.timeline_rows.append(_protocol.Run(spec.name, spec.kind, worker.node, worker.wid,
                                                worker.pid, t0, t1, spec.tid.hex(),
                                                task.attempt))

    def _locked(self, fn) -> bool:
        """Run ``fn()`` under the lock from a helper thread (a copy, spill or fork ended);
        an error in it breaks the runtime as one in the control thread does. False if the
        runtime is closed (or broken) and ``fn`` did not run."""
        with self._lock:
            if self._closed or self._broken is not None:
                return False
            try:
                fn()
            except Exception as e:  # noqa: BLE001
                self._break(e)
        self.control.flush_logs(block=False)
        return True

    def _break(self, error: BaseException) -> None:
        """Mark the runtime broken by ``error`` and wake every blocked caller (under the lock)."""
        import traceback
        self._broken = error
        sys.stderr.write("minirt: internal error in the control thread (please report); the "
                         "runtime is broken, call minirt.shutdown() and minirt.init() again:\n"
                         + "".join(traceback.format_exception(error)))
        self._wake_blocked()

    def _wake_blocked(self) -> None:
        for ev in self._blocked:
            ev.set()
        self._blocked.clear()

    # --- the core interface (see _context.py) -------------------------------------
    def register_fn(self, fn_id, data: bytes) -> None:
        if fn_id not in self.sched.fns:
            with self._lock:
                self.sched.fns[fn_id] = data

    def submit(self, spec):
        with self._lock:
            self._check_open()
            self._drain_local()
            if spec.kind == "actor":
                return self.actors_part.create(spec)
            self.sched.submit(spec)
            return None

    def put(self, oid, kind, data, contained) -> None:
        while True:
            spilled: list = []
            ev = threading.Event()
            with self._lock:
                self._check_open()
                self._drain_local()
                if kind != FILE or self.room_for_put(
                        oid, data, 0, lambda error: (spilled.append(error), ev.set())):
                    self.table.store(oid, kind, data, False, contained, 0)
                    return
                self._blocked.add(ev)
            ev.wait()               # a spill makes room, without the lock (see _spill.py)
            with self._lock:
                self._blocked.discard(ev)
                self._check_open()
            if spilled and spilled[0] is not None:
                self.nodes[0].store.discard(oid)
                raise spilled[0]

    def room_for_put(self, oid, size, node, then) -> bool:
        """Whether a put's file fits in ``node``'s store now (as ``ObjectTable.room``).
        Raises ObjectStoreFullError now (the file deleted) if it never can."""
        try:
            return self.table.room(oid, size, node, then)
        except Exception:
            self.nodes[node].store.discard(oid)
            raise

    def get(self, ids, timeout):
        """Wait for ``ids``; return their (kind, data) descriptors for node 0."""
        return _waiting.get(self, ids, timeout)

    def wait(self, ids, num_returns, timeout):
        return _waiting.wait(self, ids, num_returns, timeout)

    def cancel(self, oid, force, recursive) -> None:
        with self._lock:
            self._check_open()
            self._drain_local()
            self.sched.cancel(oid, force, recursive)

    def kill_actor(self, aid, no_restart) -> None:
        with self._lock:
            self._check_open()
            self.actors_part.kill(aid, no_restart)

    def exit_actor(self) -> None:
        raise TypeError("exit_actor() ends the actor that calls it: call it inside an actor "
                        "method; to stop an actor from the driver use kill(actor)")

    def is_canceled(self) -> bool:
        raise RuntimeError("is_canceled() says whether the running task was cancelled: call "
                           "it inside a task or an actor method, not in the driver")

    def call(self, op, *args):
        with self._lock:
            self._check_open()
            self._drain_local()
            return self.control.answer(op, args)

    def drain_refs(self) -> None:
        with self._lock:
            self._drain_local()

    def _check_open(self) -> None:
        if self._broken is not None:
            e = self._broken
            raise RuntimeBrokenError(
                f"minirt's runtime is broken by an internal error in its control thread "
                f"({type(e).__name__}: {e}); call minirt.shutdown() and then minirt.init() "
                "again") from e
        if self._closed:
            raise RuntimeShutdownError("minirt was shut down (minirt.shutdown()) before or while "
                                       "this call waited; call minirt.init() to start it again")

    # --- nodes joining and leaving (cluster_utils.Cluster; see _nodes.py) ----------------
    def add_node(self, spec: NodeSpec) -> int:
        """Add a node to the running head; return its index."""
        with self._lock:
            self._check_open()
            node = Node(len(self.nodes), spec, self.shm_root, self.session_dir)
            self.nodes.append(node)
            self._update_max_node()
            self._event("node_added", node=node.index, node_id=spec.node_id)
            self.pool.add_idle(node)       # forked without the lock
            self._prestart = True          # warm the rest up when idle
            self.sched.schedule()          # tasks waiting for room may fit now
        self.control.wake()
        return node.index

    def remove_node(self, node_id: str) -> None:
        """Kill a node as if its machine died (see _nodes.py)."""
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
            lose_objects(self.table, self.nodes, node.index, self.sched,
                         [t for q in self.sched.ready.values() for t in q]
                         + self.actors_part.queued())
            node.store.clear()
            workers = list(node.workers)
            for w in workers:
                w.exit_reason = w.exit_reason or "its node was removed"
                try:
                    w.proc.kill()
                except Exception:   # noqa: BLE001 - already gone
                    pass
        # Their deaths (retries, actor restarts) are handled by the control thread as
        # their pidfds fire; wait for that without the lock.
        deadline = time.monotonic() + 2.0
        while any(not w.dead for w in workers) and time.monotonic() < deadline:
            time.sleep(0.005)
        with self._lock:
            for w in workers:
                self.control.worker_died(w, None)     # (a no-op for those already handled)
            node.idle.clear()
            fail_unschedulable(self.sched, self.nodes, node)
            self.sched.schedule()
        self.control.wake()

    def _update_max_node(self) -> None:
        self.max_node.clear()
        self.max_node.update(largest_node(self.nodes))

    # --- shutdown (see _teardown.py) --------------------------------------------------------
    def shutdown(self) -> None:
        _teardown.shutdown(self)
