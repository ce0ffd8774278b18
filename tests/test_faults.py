"""Fault tolerance: retries, max_calls, cancel, failure propagation, chaos, bad tasks.

Tasks count their own attempts in files (a worker that is killed cannot report
anything else), so each test can tell exactly how often user code ran.
The chaos tests (``-m slow``) kill workers from inside and outside while
thousands of tasks run; run them with ``-s`` to see the figures they print.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import random
import signal
import sys
import threading
import time

import cloudpickle
import numpy as np
import psutil
import pytest

import minirt
from minirt.exceptions import (ActorDiedError, TaskCancelledError, TaskError,
                               WorkerCrashedError)
from tests.conftest import wait_until

# Ship this module's functions and classes by value, as for a notebook's: otherwise every
# fresh worker (each actor restart in the chaos tests) would import this module, and
# with it pytest, which takes longer than the 50 ms between outside kills.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


# --- helpers ------------------------------------------------------------------------
def _attempt(path) -> int:
    """Append one line to ``path``; return how many runs (this one included) it records."""
    with open(path, "a") as f:
        f.write("x\n")
    with open(path) as f:
        return len(f.read().splitlines())


def _runs(path) -> int:
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return len(f.read().splitlines())


def _alive(pid) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@minirt.remote
def inc(x):
    return x + 1


def _still_works():
    assert minirt.get(inc.remote(41), timeout=30) == 42


@minirt.remote
def die_then_succeed(path, deaths, sig=signal.SIGKILL):
    """Kill our own worker on the first ``deaths`` runs, then return the run count."""
    n = _attempt(path)
    if n <= deaths:
        os.kill(os.getpid(), sig)
        time.sleep(10)                  # not reached
    return n


# --- retries after a worker death ----------------------------------------------------------
def test_default_max_retries_is_3_rerun_after_worker_death(rt, tmp_path):
    p = tmp_path / "runs"
    assert minirt.get(die_then_succeed.remote(str(p), 3), timeout=60) == 4
    assert _runs(p) == 4


def test_default_max_retries_runs_out_after_4_attempts(rt, tmp_path):
    p = tmp_path / "runs"
    with pytest.raises(WorkerCrashedError) as ei:
        minirt.get(die_then_succeed.remote(str(p), 10), timeout=60)
    assert _runs(p) == 4                                # 1 run + 3 retries, no more
    assert "SIGKILL" in str(ei.value)
    _still_works()


def test_max_retries_0_never_reruns(rt, tmp_path):
    p = tmp_path / "runs"
    with pytest.raises(WorkerCrashedError) as ei:
        minirt.get(die_then_succeed.options(max_retries=0).remote(str(p), 1), timeout=30)
    assert _runs(p) == 1
    assert "SIGKILL" in str(ei.value)
    _still_works()


def test_max_retries_1_gives_two_attempts(rt, tmp_path):
    p = tmp_path / "runs"
    with pytest.raises(WorkerCrashedError):
        minirt.get(die_then_succeed.options(max_retries=1).remote(str(p), 5), timeout=30)
    assert _runs(p) == 2
    p2 = tmp_path / "runs2"
    assert minirt.get(die_then_succeed.options(max_retries=1).remote(str(p2), 1), timeout=30) == 2


def test_max_retries_minus_1_retries_forever(rt, tmp_path):
    p = tmp_path / "runs"
    ref = die_then_succeed.options(max_retries=-1).remote(str(p), 12)
    assert minirt.get(ref, timeout=60) == 13            # far beyond the default 3
    assert _runs(p) == 13


def test_worker_crash_error_names_exit_code(rt, tmp_path):
    @minirt.remote(max_retries=1)
    def exit7(path):
        _attempt(path)
        os._exit(7)

    p = tmp_path / "runs"
    with pytest.raises(WorkerCrashedError) as ei:
        minirt.get(exit7.remote(str(p)), timeout=30)
    assert "exit code 7" in str(ei.value)
    assert "exit7" in str(ei.value)
    assert _runs(p) == 2
    _still_works()


def test_worker_killed_by_sigterm_is_retried_and_named(rt, tmp_path):
    p = tmp_path / "runs"
    with pytest.raises(WorkerCrashedError) as ei:
        minirt.get(die_then_succeed.options(max_retries=2).remote(str(p), 9, signal.SIGTERM),
                   timeout=30)
    assert "SIGTERM" in str(ei.value)
    assert _runs(p) == 3


# --- retry_exceptions ---------------------------------------------------------------------
@minirt.remote
def raise_until(path, failures, exc_type):
    n = _attempt(path)
    if n <= failures:
        raise exc_type(f"attempt {n}")
    return n


def test_application_errors_are_not_retried_by_default(rt, tmp_path):
    p = tmp_path / "runs"
    with pytest.raises(ValueError):
        minirt.get(raise_until.remote(str(p), 1, ValueError), timeout=30)
    assert _runs(p) == 1


def test_retry_exceptions_true_reruns_on_any_exception(rt, tmp_path):
    p = tmp_path / "runs"
    f = raise_until.options(retry_exceptions=True, max_retries=3)
    assert minirt.get(f.remote(str(p), 2, ValueError), timeout=30) == 3
    assert _runs(p) == 3


def test_retry_exceptions_true_gives_up_after_max_retries(rt, tmp_path):
    p = tmp_path / "runs"
    f = raise_until.options(retry_exceptions=True, max_retries=2)
    with pytest.raises(ValueError) as ei:
        minirt.get(f.remote(str(p), 99, ValueError), timeout=30)
    assert isinstance(ei.value, TaskError)
    assert "attempt 3" in str(ei.value)                 # the last attempt's error is raised
    assert _runs(p) == 3


def test_retry_exceptions_list_retries_only_listed_types(rt, tmp_path):
    f = raise_until.options(retry_exceptions=[ValueError], max_retries=3)
    p = tmp_path / "listed"
    assert minirt.get(f.remote(str(p), 2, ValueError), timeout=30) == 3
    assert _runs(p) == 3
    p = tmp_path / "subclass"          # a subclass of a listed type counts as listed
    assert minirt.get(f.remote(str(p), 1, UnicodeError), timeout=30) == 2
    p = tmp_path / "unlisted"
    with pytest.raises(KeyError):
        minirt.get(f.remote(str(p), 2, KeyError), timeout=30)
    assert _runs(p) == 1


def test_retry_exceptions_also_allows_crash_retries(rt, tmp_path):
    # retry_exceptions adds retries; a worker death is still retried up to max_retries
    p = tmp_path / "runs"
    f = die_then_succeed.options(retry_exceptions=[ValueError], max_retries=2)
    assert minirt.get(f.remote(str(p), 2), timeout=30) == 3


# --- max_calls ----------------------------------------------------------------------------
@minirt.remote(max_calls=2)
def pid_twice():
    return os.getpid()


@minirt.remote(max_calls=1)
def pid_once():
    return os.getpid()


def test_max_calls_recycles_the_worker():
    # One CPU: one idle worker, reused while it lives (with more, a warm-up worker that
    # becomes idle between two calls may take the second one).
    minirt.init(num_cpus=1)
    pids = [minirt.get(pid_twice.remote(), timeout=30) for _ in range(4)]
    assert pids[0] == pids[1] and pids[2] == pids[3] and pids[1] != pids[2], pids
    assert wait_until(lambda: not _alive(pids[0]), 5.0), "a retired worker did not exit"
    once = [minirt.get(pid_once.remote(), timeout=30) for _ in range(3)]
    assert len(set(once)) == 3, once
    assert wait_until(lambda: not any(_alive(p) for p in once[:2]), 5.0)


def test_max_calls_counts_only_its_own_function():
    # Other functions run in between do not count towards pid_twice's limit.
    minirt.init(num_cpus=1)                    # one worker, reused while it lives
    a = minirt.get(pid_twice.remote(), timeout=30)
    for i in range(3):
        assert minirt.get(inc.remote(i), timeout=30) == i + 1
    b = minirt.get(pid_twice.remote(), timeout=30)
    c = minirt.get(pid_twice.remote(), timeout=30)
    assert a == b != c


# --- actor restarts (deterministic) ---------------------------------------------------------
@minirt.remote(max_restarts=1, max_task_retries=1)
class Fragile:
    def __init__(self):
        self.calls = 0

    def work(self, path, x):
        self.calls += 1
        if _attempt(path) == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return x * 10, self.calls, os.getpid()


def test_actor_call_is_retried_on_the_restarted_actor(rt, tmp_path):
    a = Fragile.remote()
    p = tmp_path / "runs"
    value, calls, pid1 = minirt.get(a.work.remote(str(p), 4), timeout=30)
    assert value == 40 and calls == 1           # state was reset by the restart
    assert _runs(p) == 2
    # no restarts left: the next crash is final
    p2 = tmp_path / "runs2"
    with pytest.raises(ActorDiedError):
        minirt.get(a.work.remote(str(p2), 5), timeout=30)
    _still_works()


# --- cancel ---------------------------------------------------------------------------------
@minirt.remote
def gate_task(gate, started=None, timeout=30.0):
    """Wait (polling) until the file ``gate`` exists."""
    if started:
        open(started, "w").close()
    deadline = time.monotonic() + timeout
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)
    return "gate"


@minirt.remote
def mark(path, value=None):
    _attempt(path)
    return value


def test_cancel_pending_task_never_runs(tmp_path):
    minirt.init(num_cpus=1)
    gate, marker = str(tmp_path / "gate"), str(tmp_path / "marker")
    blocker = gate_task.remote(gate)
    victim = mark.remote(marker, 1)
    minirt.cancel(victim)
    t0 = time.monotonic()
    with pytest.raises(TaskCancelledError):
        minirt.get(victim, timeout=10)
    assert time.monotonic() - t0 < 5              # no need to wait for the blocker
    open(gate, "w").close()
    assert minirt.get(blocker, timeout=30) == "gate"
    after = mark.remote(str(tmp_path / "after"), 2)   # queued behind where victim was
    assert minirt.get(after, timeout=30) == 2
    assert _runs(marker) == 0


def test_cancel_task_waiting_for_its_argument_never_runs(rt, tmp_path):
    gate, marker = str(tmp_path / "gate"), str(tmp_path / "marker")
    upstream = gate_task.remote(gate)
    victim = mark.remote(marker, upstream)
    minirt.cancel(victim)
    open(gate, "w").close()
    assert minirt.get(upstream, timeout=30) == "gate"
    with pytest.raises(TaskCancelledError):
        minirt.get(victim, timeout=10)
    _still_works()
    assert _runs(marker) == 0


@minirt.remote
def interruptible(started, interrupted, seconds=30.0):
    open(started, "w").close()
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.01)
    except KeyboardInterrupt:
        open(interrupted, "w").close()
        raise
    return "finished"


def test_cancel_running_task_raises_keyboardinterrupt_in_it(rt, tmp_path):
    started, interrupted = str(tmp_path / "started"), str(tmp_path / "interrupted")
    ref = interruptible.remote(started, interrupted)
    assert wait_until(lambda: os.path.exists(started), 15)
    minirt.cancel(ref)
    t0 = time.monotonic()
    with pytest.raises(TaskCancelledError):
        minirt.get(ref, timeout=10)
    assert time.monotonic() - t0 < 5
    assert os.path.exists(interrupted)
    _still_works()


@minirt.remote
def pid_and_sleep(pidfile, attempts, seconds=30.0):
    _attempt(attempts)
    with open(pidfile, "w") as f:
        f.write(str(os.getpid()))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)
    return "finished"


def test_cancel_force_kills_the_worker_and_is_not_retried(rt, tmp_path):
    pidfile, attempts = str(tmp_path / "pid"), str(tmp_path / "attempts")
    ref = pid_and_sleep.options(max_retries=3).remote(pidfile, attempts)
    assert wait_until(lambda: os.path.exists(pidfile) and open(pidfile).read(), 15)
    pid = int(open(pidfile).read())
    minirt.cancel(ref, force=True)
    with pytest.raises(TaskCancelledError):
        minirt.get(ref, timeout=10)
    assert wait_until(lambda: not _alive(pid), 5), "force=True did not kill the worker"
    _still_works()                 # a retry would have been queued before this task
    assert _runs(attempts) == 1
    assert not [e for e in minirt.events() if e["kind"] == "retry"]


def test_cancelled_task_is_not_retried_even_with_retry_exceptions(rt, tmp_path):
    started, interrupted = str(tmp_path / "started"), str(tmp_path / "interrupted")
    ref = interruptible.options(retry_exceptions=True, max_retries=3).remote(started, interrupted)
    assert wait_until(lambda: os.path.exists(started), 15)
    os.unlink(started)
    minirt.cancel(ref)
    with pytest.raises(TaskCancelledError):
        minirt.get(ref, timeout=10)
    _still_works()
    assert not os.path.exists(started), "the cancelled task ran again"
    assert not [e for e in minirt.events() if e["kind"] == "retry"]


@minirt.remote
def outer_waiting(gate, started, interrupted):
    open(started, "w").close()
    try:
        return minirt.get(gate_task.remote(gate))        # blocked in a nested get
    except KeyboardInterrupt:
        open(interrupted, "w").close()
        raise


def test_cancel_task_blocked_in_nested_get(rt, tmp_path):
    gate = str(tmp_path / "gate")
    started, interrupted = str(tmp_path / "started"), str(tmp_path / "interrupted")
    ref = outer_waiting.remote(gate, started, interrupted)
    assert wait_until(lambda: os.path.exists(started), 15)
    time.sleep(0.2)                                       # let it reach the nested get
    minirt.cancel(ref)
    try:
        with pytest.raises(TaskCancelledError):
            minirt.get(ref, timeout=5)
        assert os.path.exists(interrupted)
    finally:
        open(gate, "w").close()                           # never leave the inner task waiting
    _still_works()


@minirt.remote
def outer_of_interruptible(started, interrupted):
    return minirt.get(interruptible.remote(started, interrupted))


def test_cancel_is_recursive_by_default(rt, tmp_path):
    started, interrupted = str(tmp_path / "inner_started"), str(tmp_path / "inner_interrupted")
    ref = outer_of_interruptible.remote(started, interrupted)
    assert wait_until(lambda: os.path.exists(started), 15)
    minirt.cancel(ref)
    with pytest.raises(TaskCancelledError):
        minirt.get(ref, timeout=10)
    assert wait_until(lambda: os.path.exists(interrupted), 5), "the child task kept running"
    _still_works()


def test_cancel_finished_task_keeps_its_value(rt):
    ref = inc.remote(1)
    assert minirt.get(ref, timeout=30) == 2
    minirt.cancel(ref)
    assert minirt.get(ref, timeout=5) == 2


# --- failure propagation ---------------------------------------------------------------------
class PipelineError(Exception):
    pass


@minirt.remote(max_retries=0)
def fail_upstream(msg):
    raise PipelineError(msg)


@minirt.remote(max_retries=0)
def crash_upstream():
    os._exit(5)


def test_downstream_of_failed_task_never_runs_and_raises_upstream_error(rt, tmp_path):
    m1, m2, m3 = (str(tmp_path / f"m{i}") for i in range(3))
    up = fail_upstream.remote("bad input row 17")
    mid = mark.remote(m1, up)                      # positional dependency
    kw = mark.remote(m2, value=up)                 # keyword dependency
    end = mark.remote(m3, mid)                     # two levels down
    for ref in (up, mid, kw, end):
        with pytest.raises(PipelineError) as ei:
            minirt.get(ref, timeout=30)
        assert isinstance(ei.value, TaskError)
        assert "bad input row 17" in str(ei.value)
        assert "fail_upstream" in str(ei.value)   # the error names the task that failed
    _still_works()
    assert (_runs(m1), _runs(m2), _runs(m3)) == (0, 0, 0)


def test_downstream_of_crashed_task_raises_worker_crashed(rt, tmp_path):
    marker = str(tmp_path / "marker")
    down = mark.remote(marker, crash_upstream.remote())
    with pytest.raises(WorkerCrashedError) as ei:
        minirt.get(down, timeout=30)
    assert "exit code 5" in str(ei.value)
    _still_works()
    assert _runs(marker) == 0


def test_downstream_of_cancelled_task_raises_cancelled(rt, tmp_path):
    gate, marker = str(tmp_path / "gate"), str(tmp_path / "marker")
    up = gate_task.remote(gate)
    down = mark.remote(marker, up)
    minirt.cancel(up, force=True)
    with pytest.raises(TaskCancelledError):
        minirt.get(down, timeout=30)
    _still_works()
    assert _runs(marker) == 0


@minirt.remote
class Tally:
    def __init__(self):
        self.calls = 0

    def add(self, x):
        self.calls += 1
        return x

    def count(self):
        return self.calls


def test_actor_call_with_failed_argument_never_runs(rt):
    t = Tally.remote()
    with pytest.raises(PipelineError) as ei:
        minirt.get(t.add.remote(fail_upstream.remote("for the actor")), timeout=30)
    assert "for the actor" in str(ei.value)
    assert minirt.get(t.add.remote(5), timeout=30) == 5
    assert minirt.get(t.count.remote(), timeout=30) == 1      # only the good call ran


def test_one_failed_argument_among_many_fails_the_task(rt, tmp_path):
    @minirt.remote
    def total(*xs):
        _attempt(marker)
        return sum(xs)

    marker = str(tmp_path / "marker")
    args = [inc.remote(i) for i in range(5)] + [fail_upstream.remote("one of six")]
    with pytest.raises(PipelineError):
        minirt.get(total.remote(*args), timeout=30)
    _still_works()
    assert _runs(marker) == 0


# --- tasks that misbehave ---------------------------------------------------------------------
class _DieWhilePickled:
    """Kills its worker while the task's results are being stored (first time only)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        if not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return (str, ("second",))


@minirt.remote(num_returns=2)
def big_then_die(marker):
    return np.arange(2**20, dtype=np.float64), _DieWhilePickled(marker)


def test_worker_killed_after_writing_a_large_result_is_retried_cleanly(rt, tmp_path):
    # The first attempt writes the 8 MB result file, then dies before reporting it.
    store_dir = minirt.nodes()[0]["ObjectStoreDir"]
    a, b = big_then_die.remote(str(tmp_path / "marker"))
    x = minirt.get(a, timeout=30)
    assert x[12345] == 12345.0 and x[-1] == 2**20 - 1
    assert minirt.get(b, timeout=30) == "second"
    del a, b, x
    assert wait_until(lambda: not os.listdir(store_dir), 5), os.listdir(store_dir)
    _still_works()



def test_task_calling_os_exit_3(rt):
    @minirt.remote(max_retries=0)
    def leave():
        os._exit(3)

    t0 = time.monotonic()
    with pytest.raises(WorkerCrashedError) as ei:
        minirt.get(leave.remote(), timeout=30)
    assert time.monotonic() - t0 < 10
    assert "exit code 3" in str(ei.value)
    _still_works()


def test_task_that_segfaults(rt):
    @minirt.remote(max_retries=0)
    def segfault():
        import faulthandler
        faulthandler.disable()       # keep the test output clean
        ctypes.string_at(0)

    with pytest.raises(WorkerCrashedError) as ei:
        minirt.get(segfault.remote(), timeout=30)
    assert "SIGSEGV" in str(ei.value)
    _still_works()


def test_task_that_recurses_forever(rt):
    def forever(n):
        return forever(n + 1) + 1

    @minirt.remote
    def recurse():
        return forever(0)

    t0 = time.monotonic()
    with pytest.raises(RecursionError) as ei:
        minirt.get(recurse.remote(), timeout=60)
    assert isinstance(ei.value, TaskError)
    assert "recurse" in str(ei.value)
    assert time.monotonic() - t0 < 30
    _still_works()


def test_task_returning_1_gib(rt):
    @minirt.remote
    def one_gib():
        return np.ones(2**27)                 # float64: 1 GiB

    ref = one_gib.remote()
    a = minirt.get(ref, timeout=90)
    assert a.shape == (2**27,) and a.dtype == np.float64
    idx = np.arange(0, 2**27, 2**20)
    assert a[idx].sum() == len(idx) and a[-1] == 1.0 and a[2**26 + 12345] == 1.0
    store_dir = minirt.nodes()[0]["ObjectStoreDir"]
    assert minirt.nodes()[0]["ObjectStoreUsed"] >= 2**30
    del a, ref
    # freed without any further API call (only the filesystem is watched)
    assert wait_until(lambda: not os.listdir(store_dir), 5), os.listdir(store_dir)
    assert minirt.nodes()[0]["ObjectStoreUsed"] == 0
    _still_works()


# --- chaos ---------------------------------------------------------------------------------
def _forkserver() -> psutil.Process:
    found = [c for c in psutil.Process().children()
             if "multiprocessing.forkserver" in " ".join(c.cmdline())]
    assert len(found) == 1, found
    return found[0]


def _janitor_pid(fs: psutil.Process) -> int:
    """The janitor: not a child of the forkserver (init adopted it), but alive."""
    from minirt import _context
    pid = _context.peek().janitor.pid
    assert _alive(pid) and pid not in {c.pid for c in fs.children()}
    return pid


def _worker_finder():
    """Return a function listing the runtime's worker pids (the janitor left out)."""
    fs = _forkserver()
    janitor = _janitor_pid(fs)

    def workers():
        try:
            return [c.pid for c in fs.children() if c.pid != janitor]
        except psutil.Error:
            return []
    return workers, janitor


class _Killer(threading.Thread):
    """SIGKILL one random worker every ``period`` seconds."""

    def __init__(self, workers, period=0.05):
        super().__init__(daemon=True)
        self.workers, self.period = workers, period
        self.stop = threading.Event()
        self.kills = 0

    def run(self):
        rng = random.Random(1234)
        while not self.stop.wait(self.period):
            pids = self.workers()
            if not pids:
                continue
            try:
                os.kill(rng.choice(pids), signal.SIGKILL)
                self.kills += 1
            except ProcessLookupError:
                pass


CHAOS_N = 2000
CHAOS_P = 0.05
CHAOS_WORK = 0.01          # seconds of work per call: ~10 s under fire on 2 CPUs


def _self_destructs(i) -> bool:
    return random.Random(i).random() < CHAOS_P


def _maybe_self_kill(i, marker_dir):
    """On its first attempt (a file marks it) a 5% task SIGKILLs its own worker."""
    if _self_destructs(i):
        try:
            os.close(os.open(os.path.join(marker_dir, str(i)), os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return
        os.kill(os.getpid(), signal.SIGKILL)


def _expected(i):
    return i * i + 7


@minirt.remote(max_retries=-1)
def chaos_task(i, marker_dir):
    _maybe_self_kill(i, marker_dir)
    time.sleep(CHAOS_WORK)
    return _expected(i)


@minirt.remote(max_restarts=-1, max_task_retries=-1)
class ChaosActor:
    def __init__(self, marker_dir):
        self.marker_dir = marker_dir

    def compute(self, i):                  # a pure function of i: restarts cannot change it
        _maybe_self_kill(i, self.marker_dir)
        time.sleep(CHAOS_WORK)
        return _expected(i)


def _explain_hang(refs, killer):
    """Print what a stuck chaos run looks like, for the bug report."""
    killer.stop.set()
    killer.join()
    time.sleep(5)                              # no more kills: does it recover?
    ready, rest = minirt.wait(refs, num_returns=len(refs), timeout=0)
    print(f"\nHANG: {len(rest)} of {len(refs)} not ready 5 s after the killer stopped; "
          f"first: {[refs.index(r) for r in rest[:10]]}")
    for e in minirt.events()[-25:]:
        print("   ", e)


def _run_chaos(submit, tmp_path, label):
    workers, janitor = _worker_finder()
    markers = tmp_path / "markers"
    markers.mkdir()
    killer = _Killer(workers)
    t0 = time.monotonic()
    killer.start()
    try:
        refs = submit(str(markers))
        try:
            results = minirt.get(refs, timeout=100)
        except minirt.exceptions.GetTimeoutError:
            _explain_hang(refs, killer)
            raise
    finally:
        killer.stop.set()
        killer.join()
    secs = time.monotonic() - t0
    self_kills = len(os.listdir(markers))
    kinds = collections.Counter(e["kind"] for e in minirt.events())
    print(f"\nchaos[{label}]: {CHAOS_N} calls, {self_kills} self-kills, {killer.kills} outside "
          f"kills, {secs:.1f} s; events: worker_exit={kinds['worker_exit']} "
          f"retry={kinds['retry']} actor_restart={kinds['actor_restart']}")
    assert results == [_expected(i) for i in range(CHAOS_N)]
    assert self_kills == sum(_self_destructs(i) for i in range(CHAOS_N)) > 50
    assert killer.kills > 0
    assert _alive(janitor)
    _still_works()


def test_runtime_recovers_when_the_forkserver_dies(rt):
    before = minirt.get(pid_once.remote(), timeout=30)
    fs = _forkserver()
    fs.kill()
    # don't reap it here (psutil's wait would): the standard library notices the dead
    # child and starts a new one; it may already have reaped it
    assert wait_until(lambda: not _alive(fs.pid), 5)
    pids = minirt.get([pid_once.remote() for _ in range(3)], timeout=30)   # fresh workers
    assert len(set(pids) | {before}) == 4
    _still_works()


@contextlib.contextmanager
def _next_worker_dies_at_birth():
    """SIGKILL the next process the forkserver forks before it reads its start-up data.

    This is the window an outside kill (OOM killer, the chaos killer) can hit by chance;
    here it is hit on purpose, by wrapping the standard library's forkserver client.
    """
    import multiprocessing.forkserver as forkserver
    fs = _forkserver()
    known = {c.pid for c in fs.children()}
    orig = forkserver.connect_to_new_process

    def connect(fds):
        forkserver.connect_to_new_process = orig             # only once
        sentinel, w = orig(fds)

        def newborn():
            return [c for c in fs.children() if c.pid not in known]
        wait_until(newborn, 2, 0.001)
        for c in newborn():
            c.kill()
        wait_until(lambda: not [c for c in newborn() if _alive(c.pid)], 2, 0.005)
        return sentinel, w

    forkserver.connect_to_new_process = connect
    try:
        yield
    finally:
        forkserver.connect_to_new_process = orig


def _settled(n_children, fs):
    """Wait until the forkserver has exactly n children (prestarted workers included)."""
    assert wait_until(lambda: len(fs.children()) == n_children, 10), fs.children()


def test_actor_restart_survives_a_worker_killed_at_birth():
    minirt.init(num_cpus=1)

    @minirt.remote(max_restarts=3)
    class Pid:
        def pid(self):
            return os.getpid()

    a = Pid.remote()
    first = minirt.get(a.pid.remote(), timeout=30)
    _settled(2, _forkserver())                      # one idle worker, the actor
    with _next_worker_dies_at_birth():
        os.kill(first, signal.SIGKILL)              # the restart forks the doomed worker
        assert wait_until(lambda: not _alive(first), 5)
        time.sleep(0.5)
    again = minirt.get(a.pid.remote(), timeout=15)  # restarted (again) and answering
    assert again != first
    _still_works()


def test_task_survives_a_worker_killed_at_birth():
    minirt.init(num_cpus=1)
    _settled(1, _forkserver())                      # the one idle worker
    with _next_worker_dies_at_birth():
        # max_calls=1 retires the worker: the next fork (a replacement, or for the
        # next task) is killed at birth
        first = minirt.get(pid_once.remote(), timeout=30)
        second = minirt.get(pid_once.remote(), timeout=15)
    assert first != second
    _still_works()
    assert wait_until(lambda: minirt.available_resources().get("CPU") == 1.0, 5)


@pytest.mark.slow
def test_chaos_tasks_with_workers_killed_inside_and_out(tmp_path):
    minirt.init(num_cpus=2)
    _run_chaos(lambda d: [chaos_task.remote(i, d) for i in range(CHAOS_N)], tmp_path, "tasks")
    kinds = collections.Counter(e["kind"] for e in minirt.events())
    assert kinds["retry"] >= sum(_self_destructs(i) for i in range(CHAOS_N))


@pytest.mark.slow
def test_chaos_actor_calls_with_restarts(tmp_path):
    minirt.init(num_cpus=2)

    def submit(d):
        actors = [ChaosActor.remote(d) for _ in range(2)]
        return [actors[i % 2].compute.remote(i) for i in range(CHAOS_N)]

    _run_chaos(submit, tmp_path, "actors")
    kinds = collections.Counter(e["kind"] for e in minirt.events())
    assert kinds["actor_restart"] >= sum(_self_destructs(i) for i in range(CHAOS_N))


@minirt.remote(max_retries=-1)
def chaos_array(i):
    time.sleep(CHAOS_WORK)
    return np.full(40_000, float(i))          # 320 KB: a file in shared memory, not inline


@pytest.mark.slow
def test_chaos_large_results_are_correct_and_nothing_leaks(tmp_path):
    """Workers killed while making or writing large results: no wrong data, no stale file."""
    minirt.init(num_cpus=2)
    store_dir = minirt.nodes()[0]["ObjectStoreDir"]
    workers, janitor = _worker_finder()
    killer = _Killer(workers)
    t0 = time.monotonic()
    killer.start()
    n = 1000
    try:
        refs = [chaos_array.remote(i) for i in range(n)]
        wrong = 0
        for i, ref in enumerate(refs):
            try:
                a = minirt.get(ref, timeout=60)
            except minirt.exceptions.GetTimeoutError:
                print(f"\nHANG at result {i}")
                _explain_hang(refs, killer)
                raise
            wrong += not (a.shape == (40_000,) and a[0] == i and a[-1] == i)
    finally:
        killer.stop.set()
        killer.join()
    print(f"\nchaos[large results]: {n} tasks, {killer.kills} outside kills, "
          f"{time.monotonic() - t0:.1f} s")
    assert wrong == 0
    assert killer.kills > 0
    assert len(os.listdir(store_dir)) == n           # exactly one file per live result
    del refs, ref, a
    assert wait_until(lambda: not os.listdir(store_dir), 5), os.listdir(store_dir)[:5]
    assert minirt.nodes()[0]["ObjectStoreUsed"] == 0
    _still_works()


# --- errors decided in the worker: retry_exceptions, odd exceptions, sys.exit -------------
class HTTPError(Exception):
    def __init__(self, msg, status):
        super().__init__(msg)
        self.status = status


@minirt.remote(max_retries=2, retry_exceptions=[ConnectionError])
def raise_http():
    raise HTTPError("service unavailable", 503)


def test_unlisted_odd_exception_with_retry_exceptions_is_raised_not_hung(rt):
    with pytest.raises(HTTPError) as info:
        minirt.get(raise_http.remote(), timeout=30)
    assert info.value.status == 503


@minirt.remote(max_retries=3, retry_exceptions=[HTTPError])
def http_until(path, failures):
    n = _attempt(path)
    if n <= failures:
        raise HTTPError(f"attempt {n}", 503)
    return n


def test_retry_exceptions_with_an_odd_exception_class_retries(rt, tmp_path):
    assert minirt.get(http_until.remote(str(tmp_path / "runs"), 2), timeout=30) == 3


def test_retry_exceptions_with_a_class_defined_in_main(tmp_path):
    import subprocess
    import textwrap
    script = tmp_path / "retry_main.py"
    script.write_text(textwrap.dedent(f"""\
        import minirt
        minirt.init(num_cpus=1)

        class FlakyError(Exception):
            pass

        @minirt.remote(max_retries=3, retry_exceptions=[FlakyError])
        def flaky(path):
            with open(path, "a") as f:
                f.write("x")
            with open(path) as f:
                n = len(f.read())
            if n < 3:
                raise FlakyError(f"attempt {{n}}")
            return n

        @minirt.remote(max_retries=3, retry_exceptions=[FlakyError])
        def other(path):
            with open(path, "a") as f:
                f.write("x")
            raise KeyError("not listed")

        print("RESULT", minirt.get(flaky.remote({str(tmp_path / 'a')!r}), timeout=60))
        try:
            minirt.get(other.remote({str(tmp_path / 'b')!r}), timeout=60)
        except KeyError:
            print("KEYERROR runs", len(open({str(tmp_path / 'b')!r}).read()))
        minirt.shutdown()
        """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=os.getcwd())
    assert proc.returncode == 0, proc.stderr
    assert "RESULT 3" in proc.stdout and "KEYERROR runs 1" in proc.stdout, proc.stdout


@minirt.remote
def exits(path, code):
    _attempt(path)
    sys.exit(code)


def test_sys_exit_in_a_task_ends_its_worker_and_is_retried_like_a_crash(rt, tmp_path):
    # As Ray 2.60: the worker exits, the task is retried (max_retries), then
    # WorkerCrashedError: an Exception, never a SystemExit that would end the driver.
    p = tmp_path / "runs"
    with pytest.raises(WorkerCrashedError) as info:
        minirt.get(exits.options(max_retries=1).remote(str(p), 3), timeout=30)
    assert not isinstance(info.value, SystemExit)
    assert "exit code 3" in str(info.value)
    assert _runs(p) == 2
    _still_works()


def test_uncaught_sys_exit_error_makes_the_driver_fail_loudly(tmp_path):
    import subprocess
    script = tmp_path / "sysexit.py"
    script.write_text("import sys, minirt\nminirt.init(num_cpus=1)\n"
                      "@minirt.remote(max_retries=0)\ndef quits():\n    sys.exit(3)\n"
                      "minirt.get([quits.remote()])\nprint('not reached')\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=os.getcwd())
    assert proc.returncode == 1 and "not reached" not in proc.stdout
    assert "WorkerCrashedError" in proc.stderr and "exit code 3" in proc.stderr


# --- an internal error breaks the runtime loudly -------------------------------------------
def test_internal_error_in_the_control_thread_fails_every_caller(monkeypatch, capfd):
    import threading
    from minirt.exceptions import RuntimeBrokenError
    minirt.init(num_cpus=2)
    head = minirt._context.peek()

    @minirt.remote
    def slow():
        time.sleep(60)

    waiting = slow.remote()
    errors = {}

    def blocked_wait():
        try:
            minirt.wait([waiting])
        except BaseException as e:  # noqa: BLE001
            errors["wait"] = e

    t = threading.Thread(target=blocked_wait)
    t.start()

    def boom(*args, **kwargs):
        raise ZeroDivisionError("injected fault")

    monkeypatch.setattr(head.control, "_msg_done", boom)  # the next finished task breaks the head
    with pytest.raises(RuntimeBrokenError) as info:
        minirt.get(inc.remote(1), timeout=30)
    t.join(10)
    assert not t.is_alive() and isinstance(errors.get("wait"), RuntimeBrokenError)
    err = info.value
    assert isinstance(err.__cause__, ZeroDivisionError)
    assert "injected fault" in str(err) and "shutdown()" in str(err) and "init()" in str(err)
    for later in (lambda: inc.remote(1), lambda: minirt.put(1), lambda: minirt.wait([waiting]),
                  lambda: minirt.available_resources()):
        with pytest.raises(RuntimeBrokenError):
            later()
    assert "internal error in the control thread" in capfd.readouterr().err
    minirt.shutdown()
    minirt.init(num_cpus=1)
    _still_works()

# --- one process must not take the others down ------------------------------------------
@minirt.remote
class Steps:
    def __init__(self):
        self.n = 0

    def incr(self):
        self.n += 1
        return self.n


@minirt.remote(max_retries=0)
def slow_value(seconds):
    time.sleep(seconds)
    return "slow done"


@minirt.remote
def kill_parent():
    os.kill(os.getppid(), signal.SIGKILL)     # the forkserver: a mistaken cleanup, the OOM killer
    time.sleep(0.5)
    return os.getpid()


def test_forkserver_death_leaves_running_workers_and_actors_alone(rt):
    tally = Steps.remote()
    assert [minirt.get(tally.incr.remote(), timeout=30) for _ in range(3)] == [1, 2, 3]
    slow = slow_value.remote(3)
    time.sleep(0.3)
    fs = _forkserver()
    assert minirt.get(kill_parent.remote(), timeout=30) > 0
    assert wait_until(lambda: not _alive(fs.pid), 5)
    assert minirt.get(slow, timeout=30) == "slow done"             # not declared dead
    assert minirt.get(tally.incr.remote(), timeout=30) == 4         # state kept, no restart
    assert not [e for e in minirt.events() if e["kind"] in ("actor_restart", "retry")]
    _still_works()
    pids = minirt.get([pid_once.remote() for _ in range(3)], timeout=30)   # new forkserver
    assert len(set(pids)) == 3


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_exited_actors_release_their_descriptors(rt):
    def cycle(n):
        for _ in range(n):
            t = Steps.remote()
            assert minirt.get(t.incr.remote(), timeout=30) == 1
            del t
    cycle(5)
    assert wait_until(lambda: len([e for e in minirt.events() if e["kind"] == "worker_exit"]) >= 5, 10)
    before = _open_fds()
    cycle(40)
    assert wait_until(lambda: len([e for e in minirt.events() if e["kind"] == "worker_exit"]) >= 45, 20)
    assert wait_until(lambda: _open_fds() <= before + 4, 5), (before, _open_fds())


def test_running_out_of_descriptors_is_a_clear_error_and_spares_running_work(rt):
    import resource
    tally = Steps.remote()
    assert minirt.get(tally.incr.remote(), timeout=30) == 1
    slow = slow_value.remote(2)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (_open_fds() + 3, hard))
    try:
        errors = []
        extra = []
        for _ in range(5):
            extra.append(Steps.remote())
            try:
                minirt.get(extra[-1].incr.remote(), timeout=30)
            except ActorDiedError as e:
                errors.append(str(e))
                break
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert errors, "the limit was never reached"
    assert "open files" in errors[0] and "running work is not affected" in errors[0], errors[0]
    assert minirt.get(slow, timeout=30) == "slow done"
    assert minirt.get(tally.incr.remote(), timeout=30) == 2
    _still_works()
    del extra


def test_an_unexpected_error_while_forking_a_worker_fails_the_actor_not_hangs(monkeypatch):
    from minirt import _procs
    minirt.init(num_cpus=2)
    assert minirt.get(inc.remote(1), timeout=30) == 2

    def bug(*args, **kwargs):
        raise RuntimeError("a bug in the start-up code")
    monkeypatch.setattr(_procs, "start_process", bug)
    tally = Tally.remote()                      # an actor always gets a worker of its own
    t0 = time.monotonic()
    with pytest.raises(Exception) as info:
        minirt.get(tally.add.remote(1), timeout=30)
    assert time.monotonic() - t0 < 25, "the call hung until get's timeout"
    assert not isinstance(info.value, minirt.exceptions.GetTimeoutError)
    assert "a bug in the start-up code" in str(info.value)
    monkeypatch.undo()
    assert minirt.get(inc.remote(2), timeout=30) == 3
