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
