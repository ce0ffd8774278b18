"""The worker processes of every node: starting them, reusing idle ones, retiring them.

A node keeps a list of *idle* workers (processes that finished a task and
wait for the next one). A task takes an idle worker of its node or a newly
forked one; an actor always gets a new one, which it keeps for life::

    spawn(node) --> running a task --give_back--> idle --> running a task ...
                         |                         | more idle than CPUs,
                         v                         v or max_calls reached
                   hosting an actor             retire: ("exit",) sent, the
                   (until it dies)              process ends, its pidfd fires

Workers are forked by the forkserver (``_procs.py``), on the pool's *fork
thread*: the round trip to the forkserver may take long on a loaded machine,
so it never runs under the head's lock. A part that needs a worker asks
under the lock and gets it in a callback, under the lock again::

    take(node, then) --idle one?--> then(worker) at once
                     --else-------> fork thread: start_process --> lock: register,
                                                                   then(worker)

The pool does not watch them: the head registers each new worker's pipe and
pidfd with its selector (the ``on_spawn`` callback) and reports deaths to the
parts.
"""

from __future__ import annotations

import collections
import concurrent.futures
import errno
import os
import signal
import time

from . import _procs, _worker
from .exceptions import WorkerCrashedError

_SPAWN_TRIES = 3
PRESTART_MAX = 8          # idle workers forked ahead of time per node, at most


class Worker:
    """The head's record of one worker process."""

    __slots__ = ("wid", "node", "proc", "conn", "pid", "task", "fns", "actor", "held",
                 "fn_calls", "dead", "retiring", "inflight_bytes", "reader", "pidfd",
                 "exited", "status_gone", "exit_reason", "exit_error", "queue", "killed_for")

    def __init__(self, wid, node, proc, conn):
        self.wid = wid
        self.node = node          # index of its node
        self.proc = proc
        self.conn = conn
        self.pid = proc.pid
        self.task = None          # the task it is running (tasks only)
        self.fns: set = set()     # function ids it has loaded
        self.actor = None         # the actor it hosts, if any
        self.held: set = set()    # ids this process holds refs to
        self.fn_calls: dict = {}  # fn_id -> completed calls (for max_calls)
        self.dead = False
        self.retiring = False
        self.inflight_bytes = 0   # bytes of actor calls sent and not finished
        self.reader = None        # MessageReader of its pipe (see _control.py)
        self.pidfd = None         # readable once the process has exited
        self.exited = False       # its pidfd fired (or it was gone at registration)
        self.status_gone = False  # the forkserver that knew its exit status died
        self.exit_reason: str | None = None   # why the head ended it (head.log), if it did
        self.exit_error = None    # the error its task gets if not retried (OutOfMemoryError)
        self.queue = collections.deque()  # tasks sent to run after ``task`` (see _pipeline)
        self.killed_for = None    # the task a cancel(force=True) killed it for


class WorkerPool:
    """Starts, lends and retires worker processes (see the module docstring).

    Args:
        nodes: the head's list of nodes, shared.
        cfg: what every worker is started with (namespace, session directory...).
        on_spawn: ``on_spawn(worker)``: the head watches the new process.
        send: ``send(worker, message) -> bool``.
        event: ``event(kind, **fields)``.
        locked: ``locked(fn) -> bool``: run ``fn()`` under the head's lock from the fork
            thread (False if the head is closed and ``fn`` did not run).
        log: ``log(line)``: a line for the session's head.log (see _logs.py), or None.
    """

    def __init__(self, nodes, cfg: dict, on_spawn, send, event, locked, log=None):
        self.nodes = nodes
        self.cfg = cfg
        self._on_spawn = on_spawn
        self._send = send
        self._event = event
        self._locked = locked
        self._log = log
        self._wids = 0
        self._forks: list[_Fork] = []     # forks in progress on the fork thread
        self._thread = None               # ThreadPoolExecutor(1), made on the first fork
        self._warm_failed = False         # a warm-up fork failed: tasks fork on demand

    # --- forking: asked for under the lock, done on the fork thread -------------------
    def spawn_now(self, node) -> Worker:
        """Fork a worker on ``node`` and wait for it (only while nothing else can wait
        for the lock: the head's start). Raises WorkerCrashedError if that keeps failing."""
        self._wids += 1
        return self._register(node, self._wids, *self._fork(node, self._wids))

    def spawn(self, node, then) -> None:
        """Fork a worker on ``node`` on the fork thread; ``then(worker, None)`` (or
        ``then(None, WorkerCrashedError)``) is called under the lock once it is done."""
        self._wids += 1
        fork = _Fork(node, self._wids, then)
        self._forks.append(fork)
        if self._thread is None:
            self._thread = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="minirt-fork")
        self._thread.submit(self._fork_later, fork)

    def _fork_later(self, fork) -> None:
        """On the fork thread: the forkserver round trip, then the bookkeeping under the lock."""
        proc = parent = error = None
        try:
            proc, parent = self._fork(fork.node, fork.wid)
        except WorkerCrashedError as e:
            error = e
        except Exception as e:   # noqa: BLE001 - not expected; whoever waits must hear of it
            error = WorkerCrashedError(f"could not start a worker process on node "
                                       f"{fork.node.index}: {e!r}")
            error.__cause__ = e

        def commit():
            self._forks.remove(fork)
            if error is not None:
                fork.then(None, error)
                return
            w = self._register(fork.node, fork.wid, proc, parent)
            if not fork.node.alive:           # removed meanwhile: dies as its node did
                w.exit_reason = "its node was removed"
                proc.kill()
            fork.then(w, None)
        if not self._locked(commit) and proc is not None:     # the head is closed
            proc.kill()
            proc.join(2)
            parent.close()

    def _fork(self, node, wid):
        """Start the process (slow: no lock needed); return (proc, the head's end of its pipe)."""
        for _ in range(_SPAWN_TRIES):
            try:
                parent, child = _procs.new_pipe()
            except OSError as e:
                raise WorkerCrashedError(_no_resources(e, node)) from e
            cfg = dict(self.cfg, node=node.index, shm_dir=node.store.shm_dir,
                       spill_dir=node.store.spill_dir, node_id=node.node_id, wid=wid)
            try:
                proc = _procs.start_process(_worker.main, (child, cfg), f"minirt-worker-{wid}")
                return proc, parent
            except (OSError, EOFError) as e:   # the newborn (or the forkserver) died early
                parent.close()
                error = e
                if getattr(e, "errno", None) in (errno.EMFILE, errno.ENFILE, errno.EAGAIN,
                                                 errno.ENOMEM):
                    raise WorkerCrashedError(_no_resources(e, node)) from e
            finally:
                child.close()
        raise WorkerCrashedError(f"could not start a worker process on node {node.index} "
                                 f"({_SPAWN_TRIES} tries; last error: {error})")

    def _register(self, node, wid, proc, parent) -> Worker:
        w = Worker(wid, node.index, proc, parent)
        node.workers.add(w)
        self._on_spawn(w)
        self._event("worker_start", worker=w.wid, node=node.index, pid=w.pid)
        if self._log is not None:
            self._log(f"worker {w.wid} (pid {w.pid}) started on node {node.index}")
        return w

    def close(self) -> None:
        """Wait for the fork in progress (call without the lock; the head is closed, so
        a worker forked now is killed at once)."""
        if self._thread is not None:
            self._thread.shutdown(wait=True, cancel_futures=True)

    # --- lending ----------------------------------------------------------------------
    def take(self, node, then, reuse_idle: bool = True) -> None:
        """``then(worker, None)`` with an idle worker of ``node`` (at once), or one being
        forked to be idle, or a new one (or ``then(None, error)``)."""
        if reuse_idle:
            if node.idle:
                then(node.idle.pop(), None)
                return
            for fork in self._forks:          # a warm-up fork nobody waits for: claim it
                if fork.node is node and fork.then == self._to_idle:
                    fork.then = then
                    return
        self.spawn(node, then)

    def add_idle(self, node) -> None:
        """Fork one more idle worker on ``node`` (warming up)."""
        self.spawn(node, self._to_idle)

    def _to_idle(self, worker, error) -> None:
        if error is not None:
            self._warm_failed = True
        elif not worker.dead:
            self.give_back(worker)

    def give_back(self, worker) -> None:
        """A task finished on ``worker``: keep it idle for the next one, or retire it."""
        worker.task = None
        if worker.dead or worker.actor is not None:
            return
        if worker.retiring:               # max_calls reached (see _scheduler)
            if worker.exit_reason is None:
                worker.exit_reason = "max_calls reached"
            self.retire(worker)
            return
        node = self.nodes[worker.node]
        node.idle.append(worker)
        # Keep no more idle workers than the node has CPUs (recursion can fork many).
        limit = max(1, int(node.total.get("CPU", 1)))
        while len(node.idle) > limit:
            self.retire(node.idle.pop(0))

    def retire(self, worker) -> None:
        """Ask ``worker`` to exit (its death is reported as any other)."""
        worker.retiring = True
        if worker.exit_reason is None:
            worker.exit_reason = ("its actor ended" if worker.actor is not None
                                  else "finished: idle worker retired")
        node = self.nodes[worker.node]
        if worker in node.idle:
            node.idle.remove(worker)
        self._send(worker, ("exit", None))

    def forget(self, worker) -> None:
        """``worker`` has died: drop it from its node."""
        node = self.nodes[worker.node]
        node.workers.discard(worker)
        if worker in node.idle:
            node.idle.remove(worker)

    def prestart_one(self) -> bool:
        """Fork one more idle worker on the first node with fewer than its CPUs.

        Returns False once every node is warm (or forking failed: tasks fork on demand).
        """
        if self._warm_failed:         # warming up is optional
            return False
        for node in self.nodes:
            if not node.alive:
                continue
            want = min(int(node.total.get("CPU", 1)), PRESTART_MAX)
            have = sum(1 for w in node.workers if w.actor is None and not w.retiring)
            if have + sum(1 for f in self._forks if f.node is node) < want:
                self.add_idle(node)
                return True
        return bool(self._forks)


class _Fork:
    """A fork asked for and not done yet: whose callback gets the worker."""

    __slots__ = ("node", "wid", "then")

    def __init__(self, node, wid, then):
        self.node, self.wid, self.then = node, wid, then


def stop_workers(workers, below) -> None:
    """End ``workers``, already sent ``("exit",)``: wait a moment, SIGKILL the rest, then
    kill what they started (``below``: their descendants, found while they lived) and
    free every descriptor."""
    _wait_exits(workers, 0.25)
    for w in workers:
        if not w.exited:
            try:
                os.kill(w.pid, signal.SIGKILL)
            except OSError:
                pass
    _wait_exits(workers, 2.0)
    for w in workers:
        _procs.kill_tree(w.pid, below.get(w.pid, ()))
        if w.pidfd is not None:
            os.close(w.pidfd)
            w.pidfd = None
        _procs.mark_exited(w.proc, None)
        try:
            w.conn.close()
        except OSError:
            pass


def _wait_exits(workers, timeout: float) -> None:
    """Wait until every worker has exited (their pidfds), or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    for w in workers:
        if w.exited:
            continue
        left = max(0.0, deadline - time.monotonic())
        if w.pidfd is not None:
            w.exited = _procs.readable(w.pidfd, left)
        elif not w.status_gone:          # no pidfd: the forkserver's word for it
            w.proc.join(left)
            w.exited = w.proc.exitcode is not None


def _no_resources(error: OSError, node) -> str:
    return (f"could not start a worker process on node {node.index}: {error.strerror or error}. "
            "The machine or this user ran out of processes or open files; running work is "
            "not affected. Drop actors you no longer need (minirt.kill or del the handle), or "
            "raise the limit (`ulimit -n`, `ulimit -u`) before starting Python")


def describe_exit(code) -> str:
    """``exit code 3``, ``killed by signal SIGKILL`` or ``exit status unknown``."""
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def exit_line(w, code) -> str:
    """The ``head.log`` line of a worker's death: status, why, and what it was running."""
    actor = w.actor
    why = w.exit_reason or (actor.exit_reason if actor is not None else None)
    if why is None:
        why = ("crashed" if code else "exited" if code == 0 else "exited (status unknown)")
    status = describe_exit(code)
    running = ""
    if actor is not None:
        running = f"; actor {actor.class_name}"
        calls = list(getattr(actor, "inflight", {}).values())
        if calls:
            running += f" running {calls[0][0].spec.name}"
    elif w.task is not None:
        running = f"; task {w.task.spec.name} ({w.task.spec.tid.hex()})"
    return (f"worker {w.wid} (pid {w.pid}) on node {w.node} exited "
            f"({status}): {why}{running}")
