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
pipe closes: the janitor kills the workers that are left (with whatever they
started), deletes the shared-memory directory and exits. It must outlive the
driver, so it runs in a session of its own (a signal to the driver's whole
process group, as Jupyter's Restart and Shut Down, ``timeout`` and job
control send, spares it) and outside the driver's process tree (ipykernel
kills every descendant of a kernel that shuts down): the forkserver's child
forks the janitor and exits, and init adopts it. Workers also exit by
themselves when their own pipe to the driver closes.

Each worker leads a process group of its own: Kernel > Interrupt (SIGINT to
the kernel's group) reaches only the driver, and a worker's subprocesses can
be found and killed as a group when the worker goes (:func:`kill_tree`).

A worker's liveness comes from the worker itself, through a *pidfd* (Linux
5.3+) that becomes readable when it exits; the forkserver's sentinel only
adds the exit status. So if the forkserver dies, the workers it forked keep
running and are not mistaken for dead (the standard library starts a new
forkserver on the next start).
"""

from __future__ import annotations

import errno
import multiprocessing
import multiprocessing.forkserver as _forkserver
import multiprocessing.resource_tracker as _resource_tracker
import multiprocessing.spawn as _spawn
import os
import select
import shutil
import signal
import threading

import psutil

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
    # The standard library keeps every started Process in a set and polls all of them
    # on each start (and joins them at exit): with hundreds of actors every start costs
    # milliseconds more. The head watches its workers itself (pidfds) and stops them in
    # shutdown(), so they leave that set (join(), exitcode and close() still work).
    multiprocessing.process._children.discard(proc)
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


def readable(fd: int, timeout: float = 0.0) -> bool:
    """Whether ``fd`` is readable within ``timeout`` seconds.

    ``poll``, not ``select``: with a few hundred actors the head holds more than
    1,024 descriptors, and ``select.select`` cannot take one numbered above that.

    >>> r, w = os.pipe()
    >>> readable(r, 0.01)
    False
    >>> _ = os.write(w, b"x")
    >>> readable(r)
    True
    >>> os.close(r); os.close(w)
    """
    p = select.poll()
    p.register(fd, select.POLLIN)
    return bool(p.poll(max(0.0, timeout) * 1000.0))


def open_pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when ``pid`` exits (None where unsupported).

    Raises:
        ProcessLookupError: ``pid`` has already exited and been reaped.
    """
    try:
        return os.pidfd_open(pid)
    except (AttributeError, PermissionError):
        return None
    except OSError as e:
        if e.errno == errno.ESRCH:
            raise ProcessLookupError(pid) from e
        return None        # ENOSYS (old kernel), EMFILE...: fall back to the sentinel


def read_exit_status(proc):
    """The exit code of a forkserver child whose sentinel is readable.

    Returns None if the forkserver died and cannot tell any more. The code is
    also stored in the Process object, so ``proc.exitcode`` and ``proc.close()``
    work without waiting.
    """
    popen = proc._popen
    if popen is None:
        return None
    if popen.returncode is None:
        try:
            popen.returncode = _forkserver.read_signed(popen.sentinel)
        except (OSError, EOFError):
            return None
    return popen.returncode


def mark_exited(proc, code) -> None:
    """Record that ``proc`` has exited (status ``code``, maybe None) and free its fds."""
    popen = proc._popen
    if popen is None:
        return
    if popen.returncode is None:
        popen.returncode = 255 if code is None else code
    try:
        proc.close()
    except ValueError:
        pass


def descendants_of(pids) -> dict:
    """``{pid: [psutil.Process below it, ...]}`` for each of ``pids``, in one pass over /proc."""
    pids = list(pids)
    if not pids:
        return {}
    children: dict[int, list[int]] = {}
    for p in psutil.process_iter(["ppid"]):
        children.setdefault(p.info["ppid"], []).append(p.pid)
    out = {}
    for root in pids:
        found, stack = [], list(children.get(root, ()))
        while stack:
            pid = stack.pop()
            try:
                found.append(psutil.Process(pid))
            except psutil.Error:
                continue
            stack.extend(children.get(pid, ()))
        out[root] = found
    return out


def kill_tree(pid: int, below=()) -> None:
    """SIGKILL the process group that worker ``pid`` leads, and the processes ``below``.

    A worker's subprocesses share its group unless they made their own
    (``start_new_session``); those are caught by ``below`` (collected with
    :func:`descendants` while the worker still lived).
    """
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    for p in below:
        try:
            p.kill()
        except psutil.Error:
            pass


def _janitor_main(conn, dirs: list[str], death_dirs: list[str]) -> None:
    """Wait for the driver to go away, then kill leftover workers and delete dirs."""
    try:
        os.setsid()      # out of the driver's process group: group signals spare us
    except OSError:
        pass
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    # Leave the driver's process tree too: ipykernel kills every descendant of the
    # kernel (found through parent pids) when it shuts down. The forkserver's child
    # exits at once; its child, the janitor, is adopted by init.
    if os.fork() != 0:
        os._exit(0)
    try:
        conn.send(("janitor", os.getpid()))
    except OSError:
        os._exit(0)
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
                kill_tree(pid, descendants_of([pid])[pid])
            else:
                # Gone already (it exits when its pipe closes); its group may live on,
                # and a pid is never reused while a group of that id exists.
                kill_tree(pid)
        dirs = dirs + death_dirs
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


class Janitor:
    """Driver-side handle of the janitor process."""

    def __init__(self, dirs: list[str], death_dirs: list[str] = ()):
        """Start the janitor.

        Args:
            dirs: directories to delete when it stops, in any case.
            death_dirs: directories to delete only if the driver dies without
                ``shutdown()`` (the driver's own multiprocessing temp dir).
        """
        self._conn, child = new_pipe()
        self.pid = None
        proc = start_process(_janitor_main, (child, list(dirs), list(death_dirs)),
                             "minirt-janitor")
        child.close()
        if self._conn.poll(10):
            try:
                kind, self.pid = self._conn.recv()
            except (EOFError, OSError, ValueError):
                pass
        proc.join(5)                 # the intermediate process, gone as soon as it forked
        if self.pid is None:
            raise OSError("the janitor process did not start")

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
        """Tell the janitor the runtime shut down properly; wait (briefly) until it exits."""
        self._send(("bye",))
        try:
            fd = open_pidfd(self.pid)
        except ProcessLookupError:
            fd = None
        self._conn.close()
        if fd is not None:
            try:
                if not readable(fd, 2.0):
                    os.kill(self.pid, signal.SIGKILL)      # the pidfd pins this very process
            except OSError:
                pass
            finally:
                os.close(fd)
