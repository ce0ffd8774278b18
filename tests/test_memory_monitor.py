"""The memory monitor (issue #12): above the threshold it kills the newest retriable task.

The end-to-end tests set ``RAY_memory_usage_threshold`` to the memory in use
now plus 1.5 GiB and run a task that allocates up to 4 GiB (the machine has 24 GiB),
so the monitor must kill that task -- and nothing else, the driver least of all.
"""

from __future__ import annotations

import os
import threading
import time
import types

import numpy as np
import psutil
import pytest

import minirt
from minirt import _context, _memory_monitor
from minirt._memory_monitor import MemoryMonitor, choose_victim, node_memory, settings
from minirt.exceptions import ActorDiedError, OutOfMemoryError, WorkerCrashedError
from tests.conftest import wait_until

GiB = 2**30


def _threshold_above_now(margin: int = 3 * GiB // 2) -> float:
    used, total = node_memory()
    return round((used + margin) / total, 4)


@pytest.fixture
def low_threshold(monkeypatch):
    """A runtime whose memory monitor kills once ~1.5 GiB more than now is in use
    (others share the machine: what they use moves by a GiB or so)."""
    threshold = _threshold_above_now()
    monkeypatch.setenv("RAY_memory_usage_threshold", str(threshold))
    monkeypatch.setenv("RAY_memory_monitor_refresh_ms", "100")
    minirt.init(num_cpus=2)
    yield threshold
    minirt.shutdown()


def _hog(path=None, nbytes=4 * GiB, hold=20.0):
    """Allocate and touch up to ``nbytes`` (256 MiB at a time, so past the threshold
    whatever others use meanwhile), then hold them for ``hold`` seconds."""
    if path is not None:
        with open(path, "a") as f:
            f.write(f"{os.getpid()}\n")
    chunks = [np.ones(min(nbytes, 256 * 2**20) // 8)]
    while sum(c.nbytes for c in chunks) < nbytes:
        chunks.append(np.ones(256 * 2**20 // 8))
        time.sleep(0.02)
    time.sleep(hold)
    return float(chunks[0][:10].sum())


# --- settings, reading memory, the policy (no runtime) ------------------------------

def test_settings_read_rays_names_minirts_win_and_bad_values_are_rejected():
    assert settings({}) == (0.25, 0.95)
    assert settings({"RAY_memory_monitor_refresh_ms": "0"}) == (0.0, 0.95)
    assert settings({"RAY_memory_usage_threshold": "0.5",
                     "MINIRT_memory_usage_threshold": "0.7"}) == (0.25, 0.7)
    with pytest.raises(ValueError, match="RAY_memory_usage_threshold"):
        settings({"RAY_memory_usage_threshold": "1.5"})
    with pytest.raises(ValueError, match="not a number"):
        settings({"RAY_memory_monitor_refresh_ms": "fast"})
    with pytest.raises(ValueError, match="0 \\(monitor off\\)"):
        settings({"RAY_memory_monitor_refresh_ms": "-1"})


def test_bad_setting_fails_init_and_leaves_nothing(monkeypatch):
    monkeypatch.setenv("RAY_memory_usage_threshold", "95")
    with pytest.raises(ValueError, match="at most 1"):
        minirt.init(num_cpus=1)
    assert not minirt.is_initialized()


def test_node_memory_uses_a_limited_cgroup_v2_or_v1(tmp_path):
    total = psutil.virtual_memory().total
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.max").write_text(f"{total // 4}\n")
    (v2 / "memory.current").write_text(f"{total // 8 + 1000}\n")
    (v2 / "memory.stat").write_text("anon 5\ninactive_file 1000\nactive_file 7\n")
    assert node_memory(str(v2)) == (total // 8, total // 4)
    (v2 / "memory.max").write_text("max\n")                  # no limit: the machine's
    assert node_memory(str(v2))[1] == total
    v1 = tmp_path / "v1" / "memory"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text(f"{total // 2}\n")
    (v1 / "memory.usage_in_bytes").write_text(f"{total // 4 + 50}\n")
    (v1 / "memory.stat").write_text("inactive_file 1\ntotal_inactive_file 50\n")
    assert node_memory(str(tmp_path / "v1")) == (total // 4, total // 2)
    (v1 / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert node_memory(str(tmp_path / "v1"))[1] == total


def _task(started, max_retries=3, attempt=0, done=False):
    spec = types.SimpleNamespace(max_retries=max_retries, name="f")
    return types.SimpleNamespace(spec=spec, started=started, attempt=attempt, done=done)


def _actor(started, max_restarts=0, restarts=0):
    return types.SimpleNamespace(state="ALIVE", opts={"max_restarts": max_restarts},
                                 no_restart=False, restarts=restarts,
                                 creation=types.SimpleNamespace(started=started))


def _worker(pid, task=None, actor=None):
    return types.SimpleNamespace(pid=pid, task=task, actor=actor, dead=False, exit_reason=None)


def test_policy_retriable_tasks_newest_first_then_other_tasks_then_actors_never_driver():
    old_retry = _worker(11, _task(1.0))
    new_retry = _worker(12, _task(2.0))
    newest_no_retry = _worker(13, _task(3.0, max_retries=0))
    used_up = _worker(14, _task(4.0, max_retries=1, attempt=1))
    actor_restart = _worker(15, actor=_actor(5.0, max_restarts=1))
    actor_final = _worker(16, actor=_actor(6.0))
    idle = _worker(17)
    driver = _worker(99, _task(9.0))
    everyone = [old_retry, new_retry, newest_no_retry, used_up, actor_restart, actor_final,
                idle, driver]
    assert choose_victim(everyone, driver_pid=99) is new_retry
    new_retry.exit_reason = _memory_monitor.REASON            # being killed: not again
    assert choose_victim(everyone, driver_pid=99) is old_retry
    old_retry.dead = True
    assert choose_victim(everyone, driver_pid=99) is used_up  # newest of those without retries
    used_up.dead = newest_no_retry.dead = True
    assert choose_victim(everyone, driver_pid=99) is actor_restart
    actor_restart.dead = True
    assert choose_victim(everyone, driver_pid=99) is actor_final
    actor_final.dead = True
    assert choose_victim(everyone, driver_pid=99) is None     # idle workers and the driver stay


# --- the thread ----------------------------------------------------------------------

def _monitor_threads():
    return [t for t in threading.enumerate() if t.name == "minirt-memory-monitor"]


def test_monitor_runs_while_the_runtime_does_and_refresh_0_turns_it_off(monkeypatch):
    minirt.init(num_cpus=1)
    assert len(_monitor_threads()) == 1
    minirt.shutdown()
    assert _monitor_threads() == []
    monkeypatch.setenv("RAY_memory_monitor_refresh_ms", "0")
    minirt.init(num_cpus=1)
    assert _monitor_threads() == []
    assert minirt.get(minirt.remote(lambda: 7).remote()) == 7


def test_an_error_inside_the_monitor_is_a_warning_and_it_keeps_going(capfd):
    minirt.init(num_cpus=1)
    head = _context.peek()
    calls = []

    def broken():
        calls.append(1)
        raise OSError("cannot read /proc/meminfo")
    monitor = MemoryMonitor(head, 0.02, 0.95, read_memory=broken)
    monitor.start()
    try:
        assert wait_until(lambda: len(calls) >= 3)
        assert monitor._thread.is_alive()
        assert minirt.get(minirt.remote(lambda: 1).remote()) == 1
    finally:
        monitor.stop()
    assert monitor.errors >= 3
    err = capfd.readouterr().err
    assert err.count("memory monitor failed (OSError: cannot read /proc/meminfo)") == 1


# --- end to end: a task allocating GiBs over a threshold 1.5 GiB above use ----------------

def test_task_over_the_threshold_is_killed_and_get_raises_out_of_memory(low_threshold, tmp_path):
    pids = tmp_path / "pids"
    hog = minirt.remote(max_retries=0)(_hog)
    with pytest.raises(OutOfMemoryError) as info:
        minirt.get(hog.remote(str(pids)), timeout=60)
    msg = str(info.value)
    pid = int(pids.read_text().split()[0])
    assert "the task _hog" in msg and f"pid {pid}" in msg and "(RSS)" in msg
    assert f"RAY_memory_usage_threshold={low_threshold}" in msg and "memory on the node" in msg
    assert "fewer tasks" in msg and "memory=" in msg and "num_cpus=" in msg
    assert isinstance(info.value, minirt.exceptions.RayError)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    kills = [e for e in minirt.events() if e["kind"] == "memory_monitor_kill"]
    assert [k["pid"] for k in kills] == [pid] and kills[0]["rss"] > 100 * 2**20


def test_a_killed_task_with_retries_runs_again(low_threshold, tmp_path):
    attempts = tmp_path / "attempts"

    @minirt.remote(max_retries=3)
    def shrinking():
        first = not attempts.exists()
        with open(attempts, "a") as f:
            f.write(f"{os.getpid()}\n")
        return _hog(nbytes=4 * GiB if first else 10 * 2**20, hold=20.0 if first else 0.0)

    assert minirt.get(shrinking.remote(), timeout=60) == 10.0
    pids = attempts.read_text().split()
    assert len(pids) >= 2 and len(set(pids)) == len(pids)     # each attempt a new worker
    retries = [e for e in minirt.events() if e["kind"] == "retry"]
    assert [r["attempt"] for r in retries] == list(range(1, len(pids)))


def test_an_actor_is_killed_if_nothing_else_runs(low_threshold):
    @minirt.remote(max_restarts=0)
    class Hog:
        def grow(self):
            return _hog()

        def pid(self):
            return os.getpid()

    a = Hog.remote()
    pid = minirt.get(a.pid.remote())
    with pytest.raises(ActorDiedError) as info:
        minirt.get(a.grow.remote(), timeout=60)
    assert "killed by the memory monitor" in str(info.value)
    assert isinstance(info.value.cause, OutOfMemoryError)
    assert "the actor Hog (running Hog.grow)" in str(info.value.cause)
    assert f"pid {pid}" in str(info.value.cause)
    with pytest.raises(ActorDiedError):
        minirt.get(a.pid.remote(), timeout=10)


def test_the_driver_is_never_chosen(low_threshold):
    head = _context.peek()
    idle = [w.pid for n in head.nodes for w in n.workers]
    monitor = head.memory_monitor

    def over():
        return monitor.last is not None and monitor.last[0] > low_threshold * monitor.last[1]
    ballast = []                               # the driver itself goes over the threshold
    try:
        while len(ballast) < 16 and not wait_until(over, timeout=0.3):
            ballast.append(np.ones(256 * 2**20 // 8))
        assert wait_until(over, timeout=5)
        time.sleep(0.5)                        # several more looks at the memory
        assert head.memory_monitor.kills == 0
        assert all(psutil.pid_exists(p) for p in idle)
    finally:
        del ballast
    assert minirt.get(minirt.remote(lambda: os.getpid()).remote(), timeout=30) != os.getpid()


def test_worker_crash_without_the_monitor_is_still_a_worker_crash(rt):
    @minirt.remote(max_retries=0)
    def die():
        os._exit(3)
    with pytest.raises(WorkerCrashedError):
        minirt.get(die.remote(), timeout=30)


def test_a_task_retried_forever_that_runs_alone_fails_instead_of_looping(low_threshold, tmp_path):
    attempts = tmp_path / "attempts"
    hog = minirt.remote(max_retries=-1)(_hog)
    with pytest.raises(OutOfMemoryError, match="not retried although max_retries=-1"):
        minirt.get(hog.remote(str(attempts)), timeout=60)
    assert len(attempts.read_text().split()) == 1
