"""Shared fixtures: every test must leave no process and no shared memory behind.

``no_leaks`` (autouse) records this process's children and the minirt
directories in /dev/shm and the temp dir before a test, shuts the runtime
down after it, and fails the test if a process it started (the janitors
included, which live outside this process's tree), a /dev/shm segment or a
session directory is still there a few seconds later. ``rt`` starts a
runtime for a test.

``kernel`` starts a real Jupyter kernel (through ``jupyter_client``) for the
notebook-behaviour tests; ``start_kernel`` is the same as a context manager for
a kernel that needs its own working directory, extra environment or a graceful
shutdown. Either way the client's channels stop and the kernel is shut down
when the test ends, pass or fail, before ``no_leaks`` looks for leftovers.
"""

from __future__ import annotations

import contextlib
import glob
import os
import sys
import tempfile
import time
from typing import Any, NamedTuple

import psutil
import pytest

import minirt
from minirt import _procs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _children() -> set[int]:
    try:
        return {p.pid for p in psutil.Process().children(recursive=True)}
    except psutil.Error:
        return set()


def _segments() -> set[str]:
    # Only this process's runtimes (others may run notebooks on the same machine).
    return (set(glob.glob(f"/dev/shm/minirt-{os.getpid()}-*"))
            | set(glob.glob(os.path.join(tempfile.gettempdir(), f"minirt-session-{os.getpid()}-*"))))


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


_DEFAULT_SIGNALS_EXEC = (
    "import os, signal, sys\n"
    "for s in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):\n"
    "    signal.signal(s, signal.SIG_DFL)\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n")


def with_default_signals(cmd: list[str]) -> list[str]:
    """``cmd`` started with SIGINT, SIGHUP and SIGQUIT at their defaults, as a terminal
    or Jupyter starts a program, even when this test run ignores them: ``nohup`` and
    ``cmd &`` in a script make them ignored, and ignored signals survive exec, so a
    test that signals its child would otherwise fail for a reason of its own. (The
    same process: the wrapper execs ``cmd``, its pid is the one the test signals.)"""
    return [sys.executable, "-c", _DEFAULT_SIGNALS_EXEC, *cmd]


@pytest.fixture(autouse=True)
def no_leaks(monkeypatch, request):
    if request.node.get_closest_marker("own_leak_check"):
        yield          # runs that overlap other tests check their own processes
        return
    before_procs = _children()
    before_segs = _segments()
    janitors: list[psutil.Process] = []
    start_janitor = _procs.Janitor.__init__

    def record(self, *args, **kwargs):
        start_janitor(self, *args, **kwargs)
        janitors.append(psutil.Process(self.pid))
    monkeypatch.setattr(_procs.Janitor, "__init__", record)
    yield
    minirt.shutdown()

    def leaked_procs():
        found = {p for p in _children() - before_procs if psutil.pid_exists(p) and
                 psutil.Process(p).status() != psutil.STATUS_ZOMBIE}
        return found | {j.pid for j in janitors if _alive(j)}
    ok_procs = wait_until(lambda: not leaked_procs(), 5.0)
    ok_segs = wait_until(lambda: not (_segments() - before_segs), 5.0)
    procs, segs = leaked_procs(), _segments() - before_segs
    for pid in procs:                       # don't let one leak poison later tests
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass
    assert ok_procs, f"processes left after the test: {sorted(procs)}"
    assert ok_segs, f"shared memory left after the test: {sorted(segs)}"


@pytest.fixture(params=[False, True], ids=["processes", "local"])
def mode(request):
    """A runtime with 2 CPUs, multi-process or local mode; yields whether it is local."""
    minirt.init(num_cpus=2, local_mode=request.param)
    yield request.param
    minirt.shutdown()


@pytest.fixture
def rt():
    """A running runtime with 4 logical CPUs (shut down by no_leaks)."""
    info = minirt.init(num_cpus=4)
    yield info
    minirt.shutdown()


class Kernel(NamedTuple):
    """A running Jupyter kernel: its manager (restart, interrupt, shut down) and a ready client."""
    manager: Any        # jupyter_client.KernelManager
    client: Any         # its BlockingKernelClient, channels started


@contextlib.contextmanager
def start_kernel(cwd: str = REPO, env: dict | None = None, now: bool = True):
    """A python3 Jupyter kernel started in ``cwd``, ready to run cells; yields a ``Kernel``.

    ``env`` is added to this process's environment for the kernel. On leaving (pass or
    fail) the client's channels stop and the kernel, unless the test shut it down itself,
    is shut down: killed at once (``now``) or asked to exit first (``now=False``).
    """
    jupyter_client = pytest.importorskip("jupyter_client")
    km = jupyter_client.KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(cwd), **({"env": {**os.environ, **env}} if env else {}))
    try:
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=60)
            yield Kernel(km, kc)
        finally:
            kc.stop_channels()
    finally:
        if km.has_kernel:
            km.shutdown_kernel(now=now)


@pytest.fixture
def kernel():
    """A python3 Jupyter kernel in the repository root, ready to run cells (``start_kernel``).

    It inherits this process's environment when the fixture starts: a fixture that
    sets environment variables for it (monkeypatch.setenv) comes before it in the
    test's arguments.
    """
    with start_kernel() as k:
        yield k
