"""The worker processes of every node: starting them, reusing idle ones, retiring them.

A node keeps a list of *idle* workers (processes that finished a task and
wait for the next one). A task takes an idle worker of its node or a newly
forked one; an actor always gets a new one, which it keeps for life::

    spawn(node) --> running a task --give_back--> idle --> running a task ...
                         |                         | more idle than CPUs,
                         v                         v or max_calls reached
                   hosting an actor             retire: ("exit",) sent, the
                   (until it dies)              process ends, its pidfd fires

Workers are forked by the forkserver (``_procs.py``). The pool does not
watch them: the head registers each new worker's pipe and pidfd with its
selector (the ``on_spawn`` callback) and reports deaths to the parts.
"""

from __future__ import annotations

import errno
import os
import select
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
                 "exited", "status_gone", "exit_reason", "exit_error")

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


class WorkerPool:
    """Starts, lends and retires worker processes (see the module docstring).

    Args:
        nodes: the head's list of nodes, shared.
        cfg: what every worker is started with (namespace, session directory...).
        on_spawn: ``on_spawn(worker)``: the head watches the new process.
        send: ``send(worker, message) -> bool``.
        event: ``event(kind, **fields)``.
        log: ``log(line)``: a line for the session's head.log (see _logs.py), or None.
    """

    def __init__(self, nodes, cfg: dict, on_spawn, send, event, log=None):
        self.nodes = nodes
        self.cfg = cfg
        self._on_spawn = on_spawn
        self._send = send
        self._event = event
        self._log = log
        self._wids = 0

    def spawn(self, node) -> Worker:
        """Fork a worker on ``node``. Raises WorkerCrashedError if that keeps failing."""
        for _ in range(_SPAWN_TRIES):
            self._wids += 1
            try:
                parent, child = _procs.new_pipe()
            except OSError as e:
                raise WorkerCrashedError(_no_resources(e, node)) from e
            cfg = dict(self.cfg, node=node.index, shm_dir=node.store.shm_dir,
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
        w = Worker(self._wids, node.index, proc, parent)
        node.workers.add(w)
        self._on_spawn(w)
        self._event("worker_start", worker=w.wid, node=node.index, pid=w.pid)
        if self._log is not None:
            self._log(f"worker {w.wid} (pid {w.pid}) started on node {node.index}")
        return w

    def take(self, node) -> Worker:
        """An idle worker of ``node``, or a new one."""
        return node.idle.pop() if node.idle else self.spawn(node)

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
        for node in self.nodes:
            if not node.alive:
                continue
            want = min(int(node.total.get("CPU", 1)), PRESTART_MAX)
            if sum(1 for w in node.workers if w.actor is None and not w.retiring) < want:
                try:
                    node.idle.append(self.spawn(node))
                except Exception:     # warming up is optional
                    return False
                return True
        return False


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
            w.exited = bool(select.select([w.pidfd], [], [], left)[0])
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
