"""Nothing is left behind: after shutdown(), after the driver dies, and no open doors.

The driver-death tests run a real driver as a subprocess (``python -c``) that
holds a 50 MB object and has tasks running, then end it the hard way. Every
process it started carries a unique environment variable, so the test finds
all of them (workers are grandchildren, re-parented when the driver dies) and
checks that they are gone within 5 s, together with the driver's /dev/shm
directory and its session directory. The janitor in ``minirt/_procs.py`` is
what cleans up when the driver cannot.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
import uuid

import numpy as np
import psutil
import pytest

import minirt
from tests.conftest import wait_until, with_default_signals

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _tagged(tag: str) -> list[psutil.Process]:
    """Live processes whose environment holds MINIRT_TEST_TAG=tag."""
    found = []
    for p in psutil.process_iter():
        try:
            if p.environ().get("MINIRT_TEST_TAG") == tag and _alive(p):
                found.append(p)
        except psutil.Error:
            continue
    return found


@minirt.remote
def inc(x):
    return x + 1


# --- shutdown() ---------------------------------------------------------------------------
@minirt.remote
def hold_cpu(seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)
    return seconds


@minirt.remote
class Keeper:
    def __init__(self, arr):
        self.arr = arr

    def total(self):
        return float(self.arr.sum())


def test_shutdown_stops_every_process_and_frees_all_memory():
    info = minirt.init(num_cpus=2)
    big = minirt.put(np.ones(50 * 2**20 // 8))
    keeper = Keeper.remote(big)
    assert minirt.get(keeper.total.remote(), timeout=30) == 50 * 2**20 // 8
    running = [hold_cpu.remote(30) for _ in range(3)]      # two running, one queued
    # forkserver, resource tracker, the actor, two workers (the janitor is outside our tree)
    assert wait_until(lambda: len(psutil.Process().children(recursive=True)) >= 5, 10)
    from minirt import _context
    procs = psutil.Process().children(recursive=True) + [psutil.Process(_context.peek().janitor.pid)]
    shm_root = os.path.dirname(minirt.nodes()[0]["ObjectStoreDir"])
    assert os.path.isdir(shm_root) and os.listdir(os.path.join(shm_root, "n0"))
    t0 = time.monotonic()
    minirt.shutdown()
    took = time.monotonic() - t0
    assert took < 5, f"shutdown() took {took:.1f} s"
    assert not minirt.is_initialized()
    assert wait_until(lambda: not [p for p in procs if _alive(p)], 5), \
        [p.pid for p in procs if _alive(p)]
    assert not os.path.exists(shm_root)
    assert not os.path.exists(info["session_dir"])
    minirt.shutdown()                                       # twice: harmless
    del running, keeper, big


def test_shutdown_before_init_and_twice_is_harmless():
    minirt.shutdown()
    minirt.shutdown()
    assert not minirt.is_initialized()
    minirt.init(num_cpus=1)
    assert minirt.get(inc.remote(1), timeout=30) == 2
    minirt.shutdown()
    minirt.shutdown()


def test_init_after_shutdown_works_again(tmp_path):
    for _ in range(3):
        minirt.init(num_cpus=1)
        assert minirt.get(inc.remote(1), timeout=30) == 2
        minirt.shutdown()


def test_context_manager_shuts_down():
    with minirt.init(num_cpus=1) as info:
        assert minirt.get(inc.remote(2), timeout=30) == 3
        session = info["session_dir"]
    assert not minirt.is_initialized()
    assert not os.path.exists(session)


# --- the driver dies --------------------------------------------------------------------------
DRIVER = textwrap.dedent("""
    import json, os, signal, sys, time
    import numpy as np
    import minirt

    info = minirt.init(num_cpus=2)
    big = minirt.put(np.zeros(50 * 2**20 // 8))          # 50 MB in shared memory

    @minirt.remote
    def getpid():
        return os.getpid()

    @minirt.remote
    def work(arr, i):
        time.sleep(0.2)
        return arr.shape[0] + i

    @minirt.remote
    class Holder:
        def __init__(self, arr):
            self.n = arr.shape[0]
        def n_items(self):
            return self.n

    @minirt.remote
    def start_subprocesses():
        import subprocess
        a = subprocess.Popen(["sleep", "120"])                           # in the worker's group
        b = subprocess.Popen(["sleep", "120"], start_new_session=True)   # in a session of its own
        return [a.pid, b.pid]

    warm = minirt.get(getpid.remote())
    subs = minirt.get(start_subprocesses.remote())
    import psutil                    # the janitor: outside our process tree (init adopted it)
    janitor = [minirt._context.peek().janitor.pid]
    assert janitor[0] not in {p.pid for p in psutil.Process().children(recursive=True)}
    holder = Holder.remote(big)
    assert minirt.get(holder.n_items.remote()) == 50 * 2**20 // 8
    refs = [work.remote(big, i) for i in range(50)]        # tasks in flight
    assert minirt.get(refs[0]) == 50 * 2**20 // 8
    print(json.dumps({
        "session_dir": info["session_dir"],
        "shm_root": os.path.dirname(minirt.nodes()[0]["ObjectStoreDir"]),
        "warm_worker": warm,
        "janitor": janitor[0],
        "subprocesses": subs,
    }), flush=True)
    mode = sys.argv[1]
    if mode == "exit":
        sys.exit(0)                  # no shutdown(): the atexit path (a kernel that quits)
    time.sleep(120)                  # wait to be killed
""")


def _run_driver(tmp_path, mode: str, new_session: bool = False):
    tag = uuid.uuid4().hex
    env = dict(os.environ, MINIRT_TEST_TAG=tag,
               PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(with_default_signals([sys.executable, "-c", DRIVER, mode]),
                            cwd=str(tmp_path), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=new_session)
    line = proc.stdout.readline()
    if not line:
        proc.wait(10)
        pytest.fail(f"driver failed to start: {proc.stderr.read()[-3000:]}")
    return proc, tag, json.loads(line)


def _check_all_gone(proc, tag, info, procs_before):
    t0 = time.monotonic()
    ok = wait_until(lambda: not _tagged(tag) and not os.path.exists(info["shm_root"])
                    and not os.path.exists(info["session_dir"]), 5.0, 0.1)
    left = _tagged(tag)
    for p in left:                       # don't leave them running if the test fails
        try:
            p.kill()
        except psutil.Error:
            pass
    assert ok, (f"after {time.monotonic() - t0:.1f} s: processes "
                f"{[(p.pid, ' '.join(p.cmdline())[:60]) for p in left]}, "
                f"shm left: {os.path.exists(info['shm_root'])}, "
                f"session dir left: {os.path.exists(info['session_dir'])}")
    assert not [p for p in procs_before if _alive(p)]


def _driver_tree(proc) -> list[psutil.Process]:
    tree = psutil.Process(proc.pid).children(recursive=True)
    # forkserver, resource tracker, workers, actor, a task's subprocesses: at least 5
    assert len(tree) >= 5, [(p.pid, p.cmdline()) for p in tree]
    return tree


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_killed_driver_leaves_nothing(tmp_path, how):
    proc, tag, info = _run_driver(tmp_path, "wait")
    try:
        tree = _driver_tree(proc)
        assert os.path.isdir(info["shm_root"])
        assert {p.pid for p in tree} | {proc.pid} <= {p.pid for p in _tagged(tag)}  # the tag finds them
        assert {p.pid for p in tree} >= set(info["subprocesses"])   # started by a task
        proc.send_signal(getattr(signal, how))
        assert proc.wait(10) == -getattr(signal, how)
        _check_all_gone(proc, tag, info, tree)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _pymp_dirs(pid: int) -> set:
    """The multiprocessing temp dirs (pymp-*) holding a Unix socket that ``pid`` listens on."""
    found = set()
    for c in psutil.Process(pid).net_connections(kind="unix"):
        if c.laddr and "/pymp-" in c.laddr:
            found.add(os.path.dirname(c.laddr))
    return found


@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP", "SIGINT then SIGKILL"])
def test_signal_to_the_drivers_process_group_leaves_nothing(tmp_path, how):
    """What Jupyter's Restart/Shut Down, `timeout` and job control do: signal the whole group."""
    proc, tag, info = _run_driver(tmp_path, "wait", new_session=True)
    try:
        tree = _driver_tree(proc)
        forkserver = [p for p in tree if "multiprocessing.forkserver" in " ".join(p.cmdline())]
        pymp = _pymp_dirs(forkserver[0].pid)
        assert pymp and all(os.path.isdir(d) for d in pymp)
        if how == "SIGINT then SIGKILL":         # Kernel > Interrupt, then a hard kill
            os.killpg(proc.pid, signal.SIGINT)
            time.sleep(0.5)
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            os.killpg(proc.pid, getattr(signal, how))
        proc.wait(10)
        _check_all_gone(proc, tag, info, tree)
        assert not [d for d in pymp if os.path.exists(d)], "the driver's pymp-* dir was left"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


KERNEL_CELL = textwrap.dedent("""
    import json, os, sys
    sys.path.insert(0, {repo!r})
    import numpy as np, minirt, psutil
    info = minirt.init(num_cpus=2)
    big = minirt.put(np.ones(20 * 2**20 // 8))

    @minirt.remote
    def inc(x):
        import time
        time.sleep(0.3)
        return x + 1

    # Two at once: two workers run now (a second one is not left to the warm-up's timing).
    assert minirt.get([inc.remote(1), inc.remote(2)]) == [2, 3]
    print(json.dumps({{"shm": os.path.dirname(minirt.nodes()[0]["ObjectStoreDir"]),
                      "session": info["session_dir"],
                      "procs": [p.pid for p in psutil.Process().children(recursive=True)]}}))
""")


def _kernel_run(kc, code):
    out = []
    reply = kc.execute_interactive(
        code, timeout=60,
        output_hook=lambda m: out.append(m["content"].get("text", ""))
        if m["msg_type"] == "stream" else None)
    assert reply["content"]["status"] == "ok", "".join(out)
    return "".join(out)


@pytest.mark.parametrize("action", ["restart", "shutdown"])
def test_real_jupyter_kernel_restart_and_shutdown_leave_nothing(action, kernel):
    km, kc = kernel
    info = json.loads(_kernel_run(kc, KERNEL_CELL.format(repo=REPO)).strip().splitlines()[-1])
    procs = [psutil.Process(p) for p in info["procs"]]
    assert len(procs) >= 4 and os.path.isdir(info["shm"])
    if action == "restart":
        km.restart_kernel(now=False)          # JupyterLab's Kernel > Restart Kernel
    else:
        km.shutdown_kernel(now=False)         # JupyterLab's Kernel > Shut Down Kernel
    assert wait_until(lambda: not os.path.exists(info["shm"])
                      and not os.path.exists(info["session"])
                      and not [p for p in procs if _alive(p)], 10, 0.1), \
        (os.path.exists(info["shm"]), os.path.exists(info["session"]),
         [p.pid for p in procs if _alive(p)])


@minirt.remote
def spawn_sleepers():
    a = subprocess.Popen(["sleep", "60"])
    b = subprocess.Popen(["sleep", "60"], start_new_session=True)
    return [a.pid, b.pid]


def test_subprocesses_started_by_tasks_end_with_shutdown():
    minirt.init(num_cpus=2)
    pids = minirt.get(spawn_sleepers.remote(), timeout=30)
    sleepers = [psutil.Process(p) for p in pids]
    assert all(_alive(p) for p in sleepers)
    minirt.shutdown()
    assert wait_until(lambda: not [p for p in sleepers if _alive(p)], 5), \
        [p.pid for p in sleepers if _alive(p)]


def test_driver_exiting_without_shutdown_leaves_nothing(tmp_path):
    """A notebook kernel that quits: the atexit path."""
    proc, tag, info = _run_driver(tmp_path, "exit")
    try:
        assert proc.wait(30) == 0, proc.stderr.read()[-3000:]
        _check_all_gone(proc, tag, info, [])
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_workers_exit_even_when_driver_and_janitor_are_killed(tmp_path):
    """Workers notice by themselves that their pipe to the driver closed."""
    proc, tag, info = _run_driver(tmp_path, "wait")
    try:
        tree = _driver_tree(proc)
        janitor = psutil.Process(info["janitor"])
        assert janitor not in tree and janitor in _tagged(tag)
        janitor.kill()
        janitor.wait(5)
        proc.kill()
        proc.wait(10)
        assert wait_until(lambda: not _tagged(tag), 5.0, 0.1), \
            [(p.pid, p.cmdline()[-1][:40]) for p in _tagged(tag)]
    finally:
        for p in _tagged(tag):
            try:
                p.kill()
            except psutil.Error:
                pass
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        import shutil
        shutil.rmtree(info["shm_root"], ignore_errors=True)     # the janitor was killed
        shutil.rmtree(info["session_dir"], ignore_errors=True)


# --- security ----------------------------------------------------------------------------------
def test_no_network_listening_sockets(rt):
    big = minirt.put(np.ones(2**20))
    keeper = Keeper.remote(big)
    assert minirt.get(keeper.total.remote(), timeout=30) == 2**20
    assert minirt.get([inc.remote(i) for i in range(4)], timeout=30) == [1, 2, 3, 4]
    procs = [psutil.Process()] + psutil.Process().children(recursive=True)
    assert len(procs) >= 5
    found = []
    for p in procs:
        for c in p.net_connections(kind="inet"):
            if c.type == socket.SOCK_DGRAM or c.status == psutil.CONN_LISTEN:       # any UDP, or TCP listening
                found.append((p.pid, c))
    assert not found, found


def _check_private(path, want_dir=0o700, want_file=0o600):
    uid = os.getuid()
    problems = []
    for root, dirs, files in os.walk(path):
        st = os.stat(root)
        if stat.S_IMODE(st.st_mode) != want_dir or st.st_uid != uid:
            problems.append((root, oct(stat.S_IMODE(st.st_mode)), st.st_uid))
        for f in files:
            st = os.stat(os.path.join(root, f))
            if stat.S_IMODE(st.st_mode) != want_file or st.st_uid != uid:
                problems.append((os.path.join(root, f), oct(stat.S_IMODE(st.st_mode)), st.st_uid))
    return problems


@minirt.remote
def make_array(n):
    return np.full(n, 3.0)


def test_shared_memory_is_private_to_the_user():
    minirt.init(num_cpus=2, num_nodes=2)
    a = minirt.put(np.ones(2**18))
    made = [make_array.remote(2**18) for _ in range(2)]     # spread over both nodes
    assert [x[0] for x in minirt.get(made, timeout=30)] == [3.0, 3.0]
    # one was made on node 1 and copied into node 0 for the driver
    assert any(e["kind"] == "copy" for e in minirt.events())
    shm_root = os.path.dirname(minirt.nodes()[0]["ObjectStoreDir"])
    assert {os.path.dirname(n["ObjectStoreDir"]) for n in minirt.nodes()} == {shm_root}
    files = [os.path.join(r, f) for r, _, fs in os.walk(shm_root) for f in fs]
    assert len(files) >= 4, files
    assert shm_root.startswith("/dev/shm/")
    assert _check_private(shm_root) == []
    del a, made


def test_session_dir_and_spilled_objects_are_private_to_the_user():
    info = minirt.init(num_cpus=1, object_store_memory=2**21)
    refs = [minirt.put(np.full(2**17, float(i))) for i in range(4)]    # 4 MiB into a 2 MiB store
    assert minirt.nodes()[0]["ObjectStoreSpilled"] > 0
    spilled = [os.path.join(r, f) for r, _, fs in os.walk(info["session_dir"]) for f in fs]
    assert spilled
    assert stat.S_IMODE(os.stat(info["session_dir"]).st_mode) == 0o700
    assert _check_private(info["session_dir"]) == []
    assert [minirt.get(r)[0] for r in refs] == [0.0, 1.0, 2.0, 3.0]
