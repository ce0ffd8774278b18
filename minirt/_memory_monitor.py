"""The memory monitor: kill a worker before the kernel's OOM killer takes the driver.

A daemon thread in the driver, like Ray's (which lives in the raylet). Every
``RAY_memory_monitor_refresh_ms`` (default 250; 0 turns it off) it reads how
much memory is in use -- the container's cgroup if it has a limit below the
machine's memory, else the machine's -- and when that is above
``RAY_memory_usage_threshold`` (default 0.95) of the total it kills one worker::

    every refresh:  read memory (cgroup v2 / v1, or psutil) --> used <= threshold? done
                                                                   | above
                    choose a victim (a short hold of the head's lock) <--+
                      1. a task that can be retried, newest first
                      2. a task that cannot, newest first
                      3. an actor (one that can restart first), newest first
                      never the driver; nothing running: nothing killed
                    read its RSS, mark the worker (exit_reason, exit_error)
                    SIGKILL it (outside the lock) --> the control thread sees the death:
                      retries left: the task runs again (a system failure, as a crash)
                      none: get() raises OutOfMemoryError (an actor: ActorDiedError
                      whose .cause is the OutOfMemoryError); so does a task with
                      max_retries=-1 that ran alone (else: killed again forever)

It kills one worker at a time and waits until the head has handled that
death (or a few seconds passed) before it chooses another, as Ray does. An
error inside the monitor is written to stderr (once a minute at most) and the
monitor goes on; it never breaks the runtime. ``MINIRT_memory_usage_threshold``
and ``MINIRT_memory_monitor_refresh_ms`` win over Ray's names when both are set.
Lesson 08 (patterns and troubleshooting) shows it stopping a runaway task.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from ._tasks import retries_left
from .exceptions import OutOfMemoryError

REFRESH_MS = 250           # Ray's default for RAY_memory_monitor_refresh_ms
THRESHOLD = 0.95           # Ray's default for RAY_memory_usage_threshold
KILL_WAIT = 5.0            # seconds to wait for a killed worker's death before the next kill
REASON = "killed by the memory monitor"
_WARN_EVERY = 60.0         # seconds between two warnings about the monitor's own errors
_CGROUP = "/sys/fs/cgroup"
_NO_LIMIT = 1 << 60        # cgroup v1 writes "no limit" as a huge number


def settings(environ=os.environ) -> tuple[float, float]:
    """Read the monitor's settings from the environment: ``(refresh seconds, threshold)``.

    Args:
        environ: the environment to read (``os.environ``).

    Returns:
        The refresh interval in seconds (0: the monitor is off) and the threshold,
        a fraction of the total memory.

    Raises:
        ValueError: a variable is set to something that is not a number in range.

    >>> settings({"RAY_memory_usage_threshold": "0.8"})
    (0.25, 0.8)
    """
    def read(name, default, cast):
        for prefix in ("MINIRT_", "RAY_"):
            raw = environ.get(prefix + name)
            if raw is not None and raw.strip():
                try:
                    return cast(raw), prefix + name
                except ValueError:
                    raise ValueError(f"{prefix}{name}={raw!r} is not a number; unset it or "
                                     f"set it like {prefix}{name}={default}") from None
        return default, name

    refresh_ms, name = read("memory_monitor_refresh_ms", REFRESH_MS, int)
    if refresh_ms < 0:
        raise ValueError(f"{name} must be 0 (monitor off) or more milliseconds; got {refresh_ms}")
    threshold, name = read("memory_usage_threshold", THRESHOLD, float)
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"{name} is a fraction of the memory, more than 0 and at most 1 "
                         f"(like 0.95); got {threshold}")
    return refresh_ms / 1000.0, threshold


def node_memory(cgroup_root: str = _CGROUP) -> tuple[int, int]:
    """Memory in use and in total, in bytes: the cgroup's if it is limited, else the machine's.

    As Ray does, the cgroup is used when its limit is below the machine's
    memory; its reclaimable page cache (``inactive_file``) does not count as used.

    Args:
        cgroup_root: where the cgroup filesystem is mounted.

    Returns:
        ``(used, total)`` in bytes.

    >>> used, total = node_memory()
    >>> 0 < used < total
    True
    """
    import psutil
    vm = psutil.virtual_memory()
    used, total = vm.total - vm.available, vm.total
    limited = _cgroup_memory(cgroup_root)
    if limited is not None and limited[1] < total:
        used, total = limited
    return used, total


def _cgroup_memory(root: str):
    """``(used, limit)`` of this process's cgroup (v2, else v1), or None if it has no limit."""
    v2 = os.path.join(root, "memory.max")
    if os.path.exists(v2):
        limit = _read(v2)
        if limit in (None, "max"):
            return None
        current = int(_read(os.path.join(root, "memory.current")) or 0)
        inactive = _stat(os.path.join(root, "memory.stat"), "inactive_file")
        return max(0, current - inactive), int(limit)
    v1 = os.path.join(root, "memory")
    limit = _read(os.path.join(v1, "memory.limit_in_bytes"))
    if limit is None or int(limit) >= _NO_LIMIT:
        return None
    usage = int(_read(os.path.join(v1, "memory.usage_in_bytes")) or 0)
    inactive = _stat(os.path.join(v1, "memory.stat"), "total_inactive_file")
    return max(0, usage - inactive), int(limit)


def _read(path: str):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _stat(path: str, key: str) -> int:
    for line in (_read(path) or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0


def process_rss(pid: int) -> int | None:
    """Resident memory of process ``pid`` in bytes, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def choose_victim(workers, driver_pid: int | None = None):
    """The worker to kill, by Ray's policy (see the module docstring); None: none to kill.

    Args:
        workers: the head's worker records (``_pool.Worker``) of every node.
        driver_pid: never chosen (the driver's pid; default this process).

    Returns:
        One of ``workers``, or None when no worker runs a task or hosts an actor.
    """
    driver_pid = os.getpid() if driver_pid is None else driver_pid
    best, best_key = None, None
    for w in workers:
        if w.dead or w.exit_reason is not None or w.pid == driver_pid:
            continue
        key = _rank(w)
        if key is not None and (best_key is None or key < best_key):
            best, best_key = w, key
    return best


def _rank(w):
    """``(group, -start time)``: lower is killed first; None for an idle worker."""
    actor, task = w.actor, w.task
    if actor is not None:
        if actor.state == "DEAD":
            return None
        limit = actor.opts.get("max_restarts", 0)
        can_restart = not actor.no_restart and (limit < 0 or actor.restarts < limit)
        return (2 if can_restart else 3, -(getattr(actor.creation, "started", None) or 0.0))
    if task is not None and not task.done:
        return (0 if retries_left(task) else 1, -(task.started or 0.0))
    return None                 # idle: killing it frees next to nothing


_WHY = {0: "it was the most recently started task that can be retried",
        1: "it was the most recently started task (none of those running can be retried)",
        2: "no task was running, and this actor can restart",
        3: "no task was running, and no actor that can restart was either"}


def describe(worker) -> str:
    """``the task f`` or ``the actor A (running A.g)``: what ``worker`` is busy with."""
    actor = worker.actor
    if actor is None:
        return f"the task {worker.task.spec.name}"
    calls = [t.spec.name for t, _ in actor.inflight.values()]
    return f"the actor {actor.class_name}" + (f" (running {', '.join(calls)})" if calls else "")


def _gib(n) -> str:
    return "unknown" if n is None else f"{n / 2**30:.2f} GiB"


def oom_message(what: str, pid: int, rss, used: int, total: int, threshold: float,
                why: str = "") -> str:
    """The text of the OutOfMemoryError for ``what`` (a task or an actor) killed at ``pid``."""
    return (f"{what} was killed by the memory monitor because the node was running low on "
            f"memory: its worker (pid {pid}) used {_gib(rss)} (RSS), and memory on the node "
            f"was {_gib(used)} of {_gib(total)} ({used / total:.4f}), above the threshold "
            f"RAY_memory_usage_threshold={threshold}" + (f"; it was chosen because {why}" if why
                                                          else "") +
            ". What to do: run fewer "
            "tasks at once (submit in batches, or wait() for some to finish); give each task "
            "more memory by asking for more of the node per task (memory=..., or a larger "
            "num_cpus= so fewer run side by side); use less memory inside the task; let it "
            "be retried (max_retries=, max_restarts= for actors); or raise the threshold "
            "with RAY_memory_usage_threshold (RAY_memory_monitor_refresh_ms=0 turns the "
            "monitor off).")


class MemoryMonitor:
    """The monitor thread of one :class:`~minirt._head.Head` (see the module docstring).

    Args:
        head: the head; the monitor reads its nodes' workers under its lock.
        refresh: seconds between two looks at the memory (0: never started).
        threshold: the fraction of the total memory above which it kills.
        read_memory: ``() -> (used, total)`` in bytes (tests pass their own).
    """

    def __init__(self, head, refresh: float, threshold: float, read_memory=node_memory):
        self.head = head
        self.refresh = refresh
        self.threshold = threshold
        self.read_memory = read_memory
        self.kills = 0               # workers killed so far
        self.errors = 0              # errors inside the monitor (each written to stderr)
        self.last = None             # the last (used, total) read
        self._victim = None          # the worker killed last, until its death is handled
        self._killed_at = 0.0
        self._warned_at = -_WARN_EVERY
        self._stop = threading.Event()
        self._thread = None

    def start(self) -> None:
        if self.refresh <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="minirt-memory-monitor",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the thread and wait for it (not under the head's lock)."""
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(5)
        self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.refresh):
            try:
                self.check()
            except Exception as e:  # noqa: BLE001 - the monitor must never take the runtime down
                self.errors += 1
                now = time.monotonic()
                if now - self._warned_at >= _WARN_EVERY:
                    self._warned_at = now
                    sys.stderr.write(f"minirt: warning: the memory monitor failed "
                                     f"({type(e).__name__}: {e}); it keeps running\n")

    def check(self) -> bool:
        """Look at the memory once; kill a worker if it is above the threshold.

        Returns:
            True if a worker was killed.
        """
        used, total = self.read_memory()
        self.last = (used, total)
        if total <= 0 or used <= self.threshold * total:
            return False
        v = self._victim
        if v is not None and not v.dead and time.monotonic() - self._killed_at < KILL_WAIT:
            return False            # the last kill is not handled yet: its memory may be freed
        head = self.head
        with head._lock:            # a short hold: choose, nothing slow
            if head._closed:
                return False
            victim = choose_victim([w for n in head.nodes for w in n.workers])
            if victim is None:
                return False
            task, what = victim.task, describe(victim)
            why = _WHY[_rank(victim)[0]]
            # A task retried forever that runs alone would be killed forever: fail it now.
            endless = (victim.actor is None and task.spec.max_retries < 0 and not any(
                _rank(w) is not None for n in head.nodes for w in n.workers
                if w is not victim and not w.dead))
        rss = process_rss(victim.pid)
        message = oom_message(what, victim.pid, rss, used, total, self.threshold, why)
        if endless:
            message += (" It was not retried although max_retries=-1: it was the only task "
                        "running, so every retry would be killed the same way (Ray also fails "
                        "the last running task of a caller instead of retrying it).")
        error = OutOfMemoryError(message)
        error.no_retry = endless
        with head._lock:
            if (head._closed or victim.dead or victim.exit_reason is not None
                    or victim.task is not task):
                return False        # it finished or died meanwhile: look again next time
            victim.exit_reason = REASON
            victim.exit_error = error
            head._event("memory_monitor_kill", worker=victim.wid, pid=victim.pid,
                        task=what, rss=rss, used=used, total=total, threshold=self.threshold)
            try:        # under the lock (a quick syscall): the worker cannot move on first
                os.kill(victim.pid, signal.SIGKILL)
            except OSError:
                pass
        self._victim, self._killed_at = victim, time.monotonic()
        self.kills += 1
        return True
