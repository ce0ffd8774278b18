"""No slow work under the head's lock: spills and forks (issue #10).

Each test makes one slow operation slower still (a slow disk, a slow
forkserver: a sleep added to the real work), starts it, and measures many
small calls meanwhile: ``get`` of a ready small object and ``f.remote()``.
Under the old code the slow work held the head's lock and every call waited
for it (about the added second); now it runs on a helper thread.
(The 1 GB cross-node copy is tests/test_head.py's.)
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import minirt
from tests.shared_remotes import Counter

MB = 2**20
SLOW = 1.0            # seconds added to the slow operation
WORST = 0.25          # the slowest small call allowed meanwhile (a loaded machine)


@minirt.remote
def one():
    return 1


def _slowest_call_while(busy: threading.Event, done, small) -> tuple[float, int]:
    """Time ``get(small)`` and ``one.remote()`` until ``done()``; (slowest, calls)."""
    assert busy.wait(30), "the slow operation never started"
    slowest, calls, refs = 0.0, 0, []
    while True:
        t0 = time.monotonic()
        if done():                  # (itself a call to time when it is a wait())
            slowest = max(slowest, time.monotonic() - t0)
            break
        assert minirt.get(small) == 7
        refs.append(one.remote())
        slowest = max(slowest, time.monotonic() - t0)
        calls += 1
        time.sleep(0.005)
    assert minirt.get(refs) == [1] * len(refs)
    return slowest, calls


def test_a_slow_spill_does_not_stall_other_calls(monkeypatch):
    from minirt import _store
    minirt.init(num_cpus=1, object_store_memory=8 * MB)
    small = minirt.put(7)
    minirt.get(one.remote())                        # warm: a worker is idle
    first = minirt.put(np.full(5 * MB // 8, 1.0))
    busy = threading.Event()
    real_copy = _store.copy_private

    def slow_disk(src, dst):                        # the spill's copy to disk
        real_copy(src, dst)
        busy.set()
        time.sleep(SLOW)
    monkeypatch.setattr(_store, "copy_private", slow_disk)
    out = {}
    putter = threading.Thread(target=lambda: out.setdefault(
        "ref", minirt.put(np.full(5 * MB // 8, 2.0))))    # needs `first` spilled
    putter.start()
    slowest, calls = _slowest_call_while(busy, lambda: not putter.is_alive(), small)
    putter.join()
    assert slowest < WORST, f"get/f.remote() took {slowest * 1000:.0f} ms during the spill"
    assert calls >= 3, "the spill ended before the calls were measured"
    assert minirt.nodes()[0]["ObjectStoreSpilled"] >= 5 * MB
    assert minirt.get(first)[0] == 1.0 and minirt.get(out["ref"])[-1] == 2.0


def test_a_task_result_waits_for_its_spill_then_is_ready(monkeypatch):
    """A task's large result that needs a spill is stored after it (pending meanwhile)."""
    from minirt import _store

    @minirt.remote
    def make():
        return np.full(5 * MB // 8, 3.0)

    minirt.init(num_cpus=1, object_store_memory=8 * MB)
    small = minirt.put(7)
    keep = minirt.put(np.full(5 * MB // 8, 1.0))
    busy = threading.Event()
    real_copy = _store.copy_private

    def slow_disk(src, dst):
        real_copy(src, dst)
        busy.set()
        time.sleep(SLOW)
    monkeypatch.setattr(_store, "copy_private", slow_disk)
    ref = make.remote()
    slowest, calls = _slowest_call_while(
        busy, lambda: minirt.wait([ref], timeout=0)[0] != [], small)
    assert slowest < WORST, f"get/f.remote() took {slowest * 1000:.0f} ms during the spill"
    assert calls >= 3, "the spill ended before the calls were measured"
    assert minirt.get(ref)[0] == 3.0 and minirt.get(keep)[0] == 1.0


def test_a_slow_fork_does_not_stall_other_calls(monkeypatch):
    """Creating (and restarting) an actor forks a worker: that waits without the lock."""
    from minirt import _procs
    minirt.init(num_cpus=2)
    small = minirt.put(7)
    minirt.get(one.remote())
    busy = threading.Event()
    real_start = _procs.start_process
    forks = []

    def slow_forkserver(*args, **kwargs):
        busy.set()
        time.sleep(SLOW)
        proc = real_start(*args, **kwargs)
        forks.append(proc.pid)
        return proc
    monkeypatch.setattr(_procs, "start_process", slow_forkserver)
    out = {}
    creator = threading.Thread(target=lambda: out.setdefault("c", Counter.remote()))
    creator.start()
    slowest, calls = _slowest_call_while(busy, lambda: bool(forks), small)
    creator.join()
    assert slowest < WORST, f"get/f.remote() took {slowest * 1000:.0f} ms during the fork"
    assert calls >= 3, "the fork ended before the calls were measured"
    assert minirt.get(out["c"].incr.remote()) == 1
