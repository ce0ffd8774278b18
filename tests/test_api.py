"""init/shutdown/get/put/wait/cancel: behaviour and argument checks (spec: Lifecycle, Objects, wait)."""

import os
import time

import numpy as np
import pytest

import minirt
from minirt.exceptions import GetTimeoutError


@minirt.remote
def echo(x):
    return x


@minirt.remote
def nap(s):
    time.sleep(s)
    return s


def test_init_returns_context_and_shutdown_twice():
    info = minirt.init(num_cpus=3)
    assert minirt.is_initialized()
    assert minirt.cluster_resources()["CPU"] == 3.0
    assert info.dashboard_url is None                   # Ray's context: attributes...
    assert info["session_dir"] == info.address_info["session_dir"]  # ...and address_info keys
    assert os.path.isdir(info["session_dir"])
    assert isinstance(info["node_id"], str) and len(info["node_id"]) > 10
    with pytest.raises(KeyError):
        info["num_cpus"]                                # not in Ray's context: not here either
    minirt.shutdown()
    minirt.shutdown()
    assert not minirt.is_initialized()
    assert not os.path.exists(info["session_dir"])


def test_shutdown_before_init_is_harmless():
    minirt.shutdown()
    assert not minirt.is_initialized()


def test_init_twice_raises_and_ignore_reinit_returns_current():
    first = minirt.init(num_cpus=2)
    with pytest.raises(RuntimeError, match="ignore_reinit_error=True"):
        minirt.init(num_cpus=2)
    again = minirt.init(num_cpus=5, ignore_reinit_error=True)
    assert again["node_id"] == first["node_id"] and minirt.cluster_resources()["CPU"] == 2.0


def test_init_as_context_manager():
    with minirt.init(num_cpus=1):
        assert minirt.get(echo.remote(3)) == 3
    assert not minirt.is_initialized()


@pytest.mark.parametrize("kwargs, exc", [
    ({"num_cpus": "8"}, TypeError), ({"num_cpus": 0}, ValueError),
    ({"num_nodes": 0}, ValueError), ({"num_nodes": 2.5}, TypeError),
    ({"object_store_memory": 10}, ValueError), ({"bogus": 1}, TypeError),
    ({"address": "ray://remote:10001"}, ValueError), ({"resources": {"CPU": 2}}, ValueError),
])
def test_init_rejects_bad_arguments(kwargs, exc):
    with pytest.raises(exc):
        minirt.init(**kwargs)
    assert not minirt.is_initialized()


def test_auto_init_on_first_remote():
    assert not minirt.is_initialized()
    assert minirt.get(echo.remote("auto")) == "auto"
    assert minirt.is_initialized()


def test_get_single_list_empty_and_order(rt):
    refs = [echo.remote(i) for i in range(20)]
    assert minirt.get(refs) == list(range(20))
    assert minirt.get(refs[3]) == 3
    assert minirt.get([]) == []
    assert minirt.get([refs[1], refs[1]]) == [1, 1]


def test_get_argument_checks(rt):
    ref = echo.remote(1)
    with pytest.raises(ValueError, match="list"):
        minirt.get((ref,))
    with pytest.raises(ValueError, match="ObjectRef"):
        minirt.get(5)
    with pytest.raises(TypeError, match="not an ObjectRef"):
        minirt.get([ref, 5])
    with pytest.raises(ValueError, match="0 or more"):
        minirt.get(ref, timeout=-1)
    assert minirt.get(ref) == 1


def test_get_timeout(rt):
    ref = nap.remote(3)
    t0 = time.monotonic()
    with pytest.raises(GetTimeoutError) as info:
        minirt.get(ref, timeout=0.3)
    assert isinstance(info.value, TimeoutError)
    assert time.monotonic() - t0 < 2.0
    with pytest.raises(GetTimeoutError):
        minirt.get(ref, timeout=0)
    ready = echo.remote(1)
    minirt.wait([ready])
    assert minirt.get(ready, timeout=0) == 1


def test_put_get_roundtrip_and_put_of_ref(rt):
    for value in [1, "text", {"a": [1, 2]}, None, np.arange(5), np.arange(10**6)]:
        out = minirt.get(minirt.put(value))
        if isinstance(value, np.ndarray):
            assert np.array_equal(out, value)
        else:
            assert out == value
    ref = minirt.put(1)
    with pytest.raises(TypeError, match="pass the ref itself"):
        minirt.put(ref)


def test_wait_checks_in_spec_order(rt):
    r1, r2 = echo.remote(1), echo.remote(2)
    with pytest.raises(TypeError, match="wait\\(\\) expected a list of ObjectRef"):
        minirt.wait(r1)
    with pytest.raises(TypeError, match="expected a list of ObjectRef"):
        minirt.wait([r1, 3])
    with pytest.raises(TypeError):          # the type check comes before the timeout check
        minirt.wait(r1, timeout=-1)
    with pytest.raises(ValueError):
        minirt.wait([r1], timeout=-1)
    assert minirt.wait([]) == ([], [])
    with pytest.raises(ValueError, match="unique"):
        minirt.wait([r1, r1])
    with pytest.raises(ValueError):
        minirt.wait([r1], num_returns=0)
    with pytest.raises(ValueError, match="num_returns cannot be greater than the number of refs"):
        minirt.wait([r1, r2], num_returns=3)


def test_wait_returns_in_input_order_and_respects_timeout(rt):
    slow, fast1, fast2 = nap.remote(2), echo.remote(1), echo.remote(2)
    ready, not_ready = minirt.wait([slow, fast1, fast2], num_returns=2, timeout=1.5)
    assert ready == [fast1, fast2] and not_ready == [slow]
    t0 = time.monotonic()
    ready, not_ready = minirt.wait([slow], timeout=0.2)
    assert ready == [] and not_ready == [slow]
    assert time.monotonic() - t0 < 1.0
    ready, _ = minirt.wait([slow, fast1], num_returns=1, timeout=0)
    assert ready == [fast1]


def test_wait_more_ready_than_asked_returns_num_returns(rt):
    refs = [echo.remote(i) for i in range(4)]
    minirt.get(refs)
    ready, rest = minirt.wait(refs, num_returns=2)
    assert ready == refs[:2] and rest == refs[2:]


def test_resources_and_nodes(rt):
    total = minirt.cluster_resources()
    assert total["CPU"] == 4.0 and total["object_store_memory"] > 0
    avail = minirt.available_resources()
    assert avail["CPU"] == 4.0
    ref = nap.options(num_cpus=4).remote(1.0)
    time.sleep(0.3)
    assert "CPU" not in minirt.available_resources()      # at 0: left out, as in Ray
    minirt.get(ref)
    nodes = minirt.nodes()
    assert len(nodes) == 1 and nodes[0]["Alive"] and nodes[0]["Resources"]["CPU"] == 4.0


def test_runtime_context(rt):
    ctx = minirt.get_runtime_context()
    assert ctx.get_task_id() is None and ctx.get_actor_id() is None
    assert ctx.namespace == "default"

    @minirt.remote
    def where():
        c = minirt.get_runtime_context()
        return c.get_node_id(), c.get_task_id(), c.get_worker_id()

    node, task, worker = minirt.get(where.remote())
    assert node == ctx.get_node_id()
    assert isinstance(task, str) and len(task) == 32
    assert worker.startswith("worker-")


def test_cancel_and_kill_argument_checks(rt):
    with pytest.raises(TypeError):
        minirt.cancel("not a ref")
    with pytest.raises(ValueError, match="cancel"):
        minirt.kill(echo.remote(1))


def test_timeline_before_init_raises():
    with pytest.raises(RuntimeError, match="init"):
        minirt.timeline()


# --- start, stop and waiting across threads ----------------------------------------------
def test_auto_init_says_in_one_line_what_it_started(capfd):
    assert minirt.get(echo.remote(1), timeout=30) == 1
    assert minirt.get(echo.remote(2), timeout=30) == 2
    err = capfd.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("minirt: started")]
    assert lines == [f"minirt: started a local runtime with {os.cpu_count()} CPUs (auto-init; "
                     "call minirt.init(...) first to choose)"], err
    minirt.shutdown()
    minirt.init(num_cpus=1)                          # an explicit init says nothing
    assert "minirt: started" not in capfd.readouterr().err


def test_shutdown_wakes_threads_blocked_in_get_wait_and_futures():
    import threading
    from minirt.exceptions import RuntimeShutdownError
    minirt.init(num_cpus=1)
    ref = nap.remote(60)
    fut = ref.future()
    errors = {}

    def call(name, fn):
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - recorded for the asserts
            errors[name] = e

    threads = [threading.Thread(target=call, args=("get", lambda: minirt.get(ref))),
               threading.Thread(target=call, args=("wait", lambda: minirt.wait([ref])))]
    for t in threads:
        t.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    minirt.shutdown()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert time.monotonic() - t0 < 10
    for name in ("get", "wait"):
        assert isinstance(errors.get(name), RuntimeShutdownError), errors
        assert "shut down" in str(errors[name])
    assert isinstance(fut.exception(timeout=10), RuntimeShutdownError)


def test_wait_on_a_ref_from_an_earlier_runtime_is_ready_and_get_raises():
    from minirt.exceptions import ObjectLostError
    minirt.init(num_cpus=1)
    ref = minirt.put("data")
    minirt.shutdown()
    minirt.init(num_cpus=1)
    ready, rest = minirt.wait([ref], timeout=10)
    assert ready == [ref] and rest == []
    with pytest.raises(ObjectLostError):
        minirt.get(ref)
    fresh = nap.remote(30)
    ready, rest = minirt.wait([fresh, ref], num_returns=1, timeout=10)
    assert ready == [ref] and rest == [fresh]
    assert ref._id not in minirt._context.peek().objects    # no entry was made for it


def test_concurrent_auto_inits_start_one_runtime(capfd):
    import threading
    barrier = threading.Barrier(4)
    results, errors = [], []

    def go(i):
        barrier.wait()
        try:
            results.append(minirt.get(echo.remote(i), timeout=60))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and sorted(results) == [0, 1, 2, 3]
    assert capfd.readouterr().err.count("minirt: started") == 1


def test_explicit_init_racing_auto_init_never_fails_the_auto_init_caller():
    import threading
    barrier = threading.Barrier(2)
    out = {}

    def auto():
        barrier.wait()
        try:
            out["auto"] = minirt.get(echo.remote("x"), timeout=60)
        except BaseException as e:  # noqa: BLE001
            out["auto"] = e

    t = threading.Thread(target=auto)
    t.start()
    barrier.wait()
    try:
        minirt.init(num_cpus=2)
        out["init"] = "started"
    except RuntimeError as e:           # auto-init won: init says so, as on a second init
        out["init"] = e
    t.join(60)
    assert out["auto"] == "x"
    assert out["init"] == "started" or "already running" in str(out["init"])


def test_init_and_shutdown_racing_in_threads_leave_no_orphan_runtime():
    import threading
    heads, errors = [], []

    def cycle():
        try:
            for _ in range(4):
                minirt.init(num_cpus=1, ignore_reinit_error=True)
                heads.append(minirt._context.peek())
                minirt.shutdown()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=cycle) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    minirt.shutdown()
    # every runtime that was ever current got shut down (no_leaks checks the processes)
    assert all(h is None or h._closed for h in heads)


def test_shutdown_never_clears_a_runtime_started_while_it_waited_for_the_lock():
    import threading
    from minirt import _context, _start
    from minirt._head import Head
    first = minirt.init(num_cpus=1)
    old = _context.peek()
    with _start.init_lock:                 # another thread is inside init()/shutdown()
        t = threading.Thread(target=minirt.shutdown)
        t.start()
        time.sleep(0.5)                  # the shutdown thread is now waiting for the lock
        _context.set_head(None)          # ... that other thread replaces the runtime
        old.shutdown()
        new = Head(num_cpus=1, num_nodes=1, resources={}, object_store_memory=64 << 20,
                   namespace="default", log_to_driver=True)
        _context.set_head(new)
    t.join(30)
    try:
        # shutdown() may stop the new runtime, but must not forget it while it runs
        assert (_context.peek() is new and not new._closed) or \
            (_context.peek() is None and new._closed), "a running runtime was orphaned"
    finally:
        new.shutdown()
        _context.set_head(None)
    assert os.path.basename(first["session_dir"]).startswith("minirt-session-")


def test_get_gpu_ids_memory_option_and_is_canceled(rt):
    assert minirt.get_gpu_ids() == []
    total = minirt.cluster_resources()["memory"]
    assert total > 0

    @minirt.remote(memory=total / 2)
    def half():
        return minirt.get_gpu_ids(), minirt.available_resources().get("memory", 0.0)

    gpus, left = minirt.get(half.remote())
    assert gpus == [] and abs(left - total / 2) < 1          # held while it ran
    assert minirt.available_resources()["memory"] == total    # and given back
    with pytest.raises(TypeError, match="memory"):
        half.options(memory="1GB")
    with pytest.raises(RuntimeError, match="inside a task"):
        minirt.get_runtime_context().is_canceled()

    @minirt.remote
    def interrupted():
        try:
            time.sleep(30)
        except KeyboardInterrupt:
            print("interrupted")
        return minirt.get_runtime_context().is_canceled()

    @minirt.remote
    def plain():
        return minirt.get_runtime_context().is_canceled()

    ref = interrupted.remote()
    time.sleep(1.0)
    minirt.cancel(ref)
    assert minirt.get(ref, timeout=30) is True      # it caught the interrupt and looked
    assert minirt.get(plain.remote()) is False


@pytest.mark.parametrize("fail_at", ["janitor", "first worker"])
def test_a_failed_init_leaves_nothing_behind(monkeypatch, fail_at):
    import glob
    import tempfile

    from minirt import _head, _pool

    def boom(*args, **kwargs):
        raise OSError(f"simulated failure starting the {fail_at}")

    if fail_at == "janitor":
        monkeypatch.setattr(_head._procs, "Janitor", boom)
    else:
        monkeypatch.setattr(_pool.WorkerPool, "spawn_now", boom)   # init forks the first one itself
    pattern_shm = f"/dev/shm/minirt-{os.getpid()}-*"
    pattern_session = os.path.join(tempfile.gettempdir(), f"minirt-session-{os.getpid()}-*")
    before = set(glob.glob(pattern_shm)) | set(glob.glob(pattern_session))
    with pytest.raises(OSError, match="simulated"):
        minirt.init(num_cpus=1)
    assert not minirt.is_initialized()
    left = (set(glob.glob(pattern_shm)) | set(glob.glob(pattern_session))) - before
    assert not left, f"a failed init left {sorted(left)}"
    monkeypatch.undo()
    minirt.init(num_cpus=1)                 # and the next init works
    try:
        assert minirt.get(minirt.put(7)) == 7
    finally:
        minirt.shutdown()
