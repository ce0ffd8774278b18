"""Starting and stopping processes: workers, and the janitor that cleans up.

Workers are started through the standard library's *forkserver*: one clean,
single-threaded server process imports numpy, cloudpickle and minirt's worker
module once, then forks a worker in a few milliseconds whenever the head asks.
Forking the (multi-threaded) Jupyter kernel directly would be unsafe, and
spawning a fresh interpreter per worker would cost ~100 ms of imports each::

    driver (head) --Process.start()--> forkserver --fork--> worker
         ^  |                                                 |
         |  +------------- socketpair (private pipe) ---------+
         +---------------- sentinel: closes when the worker dies

The *janitor* is one more small process. It learns every worker's pid and
the runtime's directories, and waits on a pipe from the driver. If the driver
dies without calling ``shutdown()`` (killed, or the kernel restarted), the
pipe closes: the janitor kills the workers that are left, deletes the
shared-memory directory and exits. Workers also exit by themselves when
their own pipe to the driver closes.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver as _forkserver
import multiprocessing.resource_tracker as _resource_tracker
import multiprocessing.spawn as _spawn
import os
import shutil
import signal
import threading

_ctx = multiprocessing.get_context("forkserver")
_PRELOAD = ["minirt._worker"]


def _forkserver_running() -> bool:
    return getattr(_forkserver._forkserver, "_forkserver_pid", None) is not None


def prepare_forkserver() -> bool:
    """Ask for the preloads; return True if this call is what starts the server."""
    started_here = not _forkserver_running()
    if started_here:
        _ctx.set_forkserver_preload(_PRELOAD)
    return started_here


def stop_forkserver() -> None:
    """Stop the forkserver and the resource tracker it started (private stdlib API)."""
    # Both are started lazily by the stdlib and would otherwise outlive
    # shutdown(); their _stop() methods exist for exactly this purpose in the
    # standard library's own tests. They restart on demand.
    for obj in (_forkserver._forkserver, _resource_tracker._resource_tracker):
        stop = getattr(obj, "_stop", None)
        if stop is not None:
            try:
                stop()
            except Exception:
                pass


# By default a forkserver child re-runs the parent's __main__ script (as
# "__mp_main__") before its target, which is why plain multiprocessing needs
# `if __name__ == "__main__":`. minirt's children never need the user's main
# module (functions travel by value with cloudpickle), so while minirt starts
# a process the preparation data leaves it out. Other callers are unaffected.
_no_main = threading.local()
_stdlib_preparation_data = _spawn.get_preparation_data


def _preparation_data(name):
    data = _stdlib_preparation_data(name)
    if getattr(_no_main, "on", False):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


_spawn.get_preparation_data = _preparation_data


def start_process(target, args, name: str):
    """Start ``target(*args)`` in a forkserver child; return the Process."""
    proc = _ctx.Process(target=target, args=args, name=name, daemon=False)
    _no_main.on = True
    try:
        proc.start()
    finally:
        _no_main.on = False
    return proc


def new_pipe():
    """A private, connected pair of duplex Connections (a socketpair)."""
    return _ctx.Pipe(duplex=True)


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _janitor_main(conn, dirs: list[str]) -> None:
    """Wait for the driver to go away, then kill leftover workers and delete dirs."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pids: dict[int, str | None] = {}
    orderly = False
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            break
        if msg[0] == "pid":
            pids[msg[1]] = _start_time(msg[1])
        elif msg[0] == "gone":
            pids.pop(msg[1], None)
        elif msg[0] == "bye":
            orderly = True
            break
    if not orderly:
        for pid, started in pids.items():
            # Only kill the process we were told about, not a later one that reused its pid.
            if started is not None and _start_time(pid) == started:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


class Janitor:
    """Driver-side handle of the janitor process."""

    def __init__(self, dirs: list[str]):
        self._conn, child = new_pipe()
        self.proc = start_process(_janitor_main, (child, dirs), "minirt-janitor")
        child.close()

    def watch(self, pid: int) -> None:
        self._send(("pid", pid))

    def forget(self, pid: int) -> None:
        self._send(("gone", pid))

    def _send(self, msg) -> None:
        try:
            self._conn.send(msg)
        except OSError:
            pass

    def stop(self) -> None:
        self._send(("bye",))
        self._conn.close()
        self.proc.join(2)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(1)
