"""Ending the runtime: ``shutdown()``, and undoing a start that failed half-way.

The order matters: nothing may be left behind (processes, ``/dev/shm``
files, threads) and nobody may be left waiting::

    under the lock:  closed = True, wake every blocked get/wait/put, send
                     ("exit",) to every worker, note what their tasks started
    without it:      stop the memory monitor, the control socket, the control
                     thread; wait for copies and spills (table.close) and the
                     fork in progress (pool.close: a worker forked now is killed);
                     print what tasks printed; stop the workers (SIGKILL after
                     a moment) and what they started; delete the stores, the
                     session directory; stop the forkserver if this head started it

The session's logs and control socket (``_logs.py``, ``_admin.py``) are
closed last; the logs stay on disk. Only used by :class:`~minirt._head.Head`.
"""

from __future__ import annotations

import os
import shutil
import signal

from . import _procs
from ._pool import stop_workers


def abort_start(head) -> None:
    """Undo a start that failed half-way: workers, threads, janitor, directories."""
    head._closed = True
    monitor = getattr(head, "memory_monitor", None)
    if monitor is not None:
        monitor.stop()
    control = getattr(head, "control", None)
    if control is not None:
        control.wake()
        control.stop()
    for part in (getattr(head, "pool", None), getattr(head, "table", None)):
        if part is not None:
            part.close()
    for node in getattr(head, "nodes", ()):
        for w in list(node.workers) + list(node.idle):
            try:
                os.kill(w.pid, signal.SIGKILL)
            except OSError:
                pass
    janitor = getattr(head, "janitor", None)
    if janitor is not None:
        janitor.stop()
    close_session(head)
    if head.shm_root is not None:
        shutil.rmtree(head.shm_root, ignore_errors=True)
    shutil.rmtree(head.session_dir, ignore_errors=True)
    if getattr(head, "_forkserver_mine", False):
        _procs.stop_forkserver()


def shutdown(head) -> None:
    """``minirt.shutdown()``: stop everything the head started (see the module docstring)."""
    with head._lock:
        if head._closed:
            return
        head.control.print_logs()
        head._closed = True
        head._wake_blocked()
        workers = [w for n in head.nodes for w in n.workers]
        # What tasks started (subprocesses) dies with them; found while they live.
        below = _procs.descendants_of([w.pid for w in workers])
        for w in workers:
            head._send(w, ("exit", None))
            if head.logs is not None and not w.dead:
                head.logs.log(f"worker {w.wid} (pid {w.pid}) on node {w.node} stopped: "
                              "minirt.shutdown()")
    head.memory_monitor.stop()
    if head.admin is not None:
        head.admin.close()          # no more requests (they would find the head closed)
    head.control.wake()
    head.control.stop()
    head.table.close()              # copies in progress end (and are not recorded)
    head.pool.close()               # a fork in progress ends (its worker killed)
    head.control.flush_logs()
    stop_workers(workers, below)
    head.control.close()
    for n in head.nodes:
        n.store.clear()
    head.objects.clear()
    head.janitor.stop()
    shutil.rmtree(head.shm_root, ignore_errors=True)
    shutil.rmtree(head.session_dir, ignore_errors=True)
    if head._forkserver_mine:
        _procs.stop_forkserver()
    close_session(head)


def close_session(head) -> None:
    """Close the control socket and the logs (which stay on disk)."""
    if getattr(head, "admin", None) is not None:
        head.admin.close()
    if getattr(head, "logs", None) is not None:
        head.logs.log("head shut down")
        head.logs.close()
        if os.environ.get("MINIRT_ADDRESS") == head.logs.path:   # set by Head.__init__
            del os.environ["MINIRT_ADDRESS"]
