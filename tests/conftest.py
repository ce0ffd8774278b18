"""Shared fixtures: every test must leave no process and no shared memory behind.

``no_leaks`` (autouse) records this process's children and the minirt
directories in /dev/shm before a test, shuts the runtime down after it, and
fails the test if a process it started, or a /dev/shm segment, is still
there a few seconds later. ``rt`` starts a runtime for a test.
"""

from __future__ import annotations

import glob
import os
import time

import psutil
import pytest

import minirt


def _children() -> set[int]:
    try:
        return {p.pid for p in psutil.Process().children(recursive=True)}
    except psutil.Error:
        return set()


def _segments() -> set[str]:
    # Only this process's runtimes (others may run notebooks on the same machine).
    return set(glob.glob(f"/dev/shm/minirt-{os.getpid()}-*"))


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@pytest.fixture(autouse=True)
def no_leaks():
    before_procs = _children()
    before_segs = _segments()
    yield
    minirt.shutdown()
    leaked_procs = lambda: {p for p in _children() - before_procs if psutil.pid_exists(p) and  # noqa: E731
                            psutil.Process(p).status() != psutil.STATUS_ZOMBIE}
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


@pytest.fixture
def rt():
    """A running runtime with 4 logical CPUs (shut down by no_leaks)."""
    info = minirt.init(num_cpus=4)
    yield info
    minirt.shutdown()
