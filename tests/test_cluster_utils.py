"""cluster_utils.Cluster: simulated nodes before and after init, a removed node dying like a
machine (its objects lost, its tasks retried, its actors restarted), and init(address=...)."""

import inspect
import json
import os
import time

import numpy as np
import pytest

import minirt
from minirt.cluster_utils import Cluster, ClusterNode
from minirt.exceptions import (ActorDiedError, ObjectLostError, TaskUnschedulableError,
                               WorkerCrashedError)

SCHEMA = json.load(open(os.path.join(os.path.dirname(__file__), "data", "ray_state_schema.json")))


def node_id():
    return minirt.get_runtime_context().get_node_id()


@minirt.remote
def where():
    return node_id()


@minirt.remote
def nap(seconds):
    time.sleep(seconds)
    return node_id()


@minirt.remote
def big_array():
    return np.ones(100_000)          # 800 kB: a file in the store of the node that ran it


@minirt.remote
def small_value():
    return 42                        # inline: kept by the head, like Ray's owner memory store


@minirt.remote
def total(a):
    return float(a.sum())


@pytest.fixture
def cluster():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    yield c
    c.shutdown()


def test_signatures_match_rays():
    # Ray 2.60: Cluster(initialize_head=False, connect=False, head_node_args=None,
    # shutdown_at_exit=True), add_node(wait=True, **node_args), remove_node(node, allow_graceful=True)
    params = inspect.signature(Cluster.__init__).parameters
    assert [(p, params[p].default) for p in list(params)[1:]] == [
        ("initialize_head", False), ("connect", False), ("head_node_args", None),
        ("shutdown_at_exit", True)]
    assert list(inspect.signature(Cluster.add_node).parameters) == ["self", "wait", "node_args"]
    assert list(inspect.signature(Cluster.remove_node).parameters) == \
        ["self", "node", "allow_graceful"]


def test_nodes_added_before_init_are_the_runtimes(cluster):
    assert cluster.address is not None and cluster.head_node.is_head
    other = cluster.add_node(num_cpus=2, resources={"disk": 1})
    assert isinstance(other, ClusterNode) and other in cluster.worker_nodes
    ctx = minirt.init(address=cluster.address)
    assert ctx["node_id"] == cluster.head_node.node_id == node_id()
    assert ctx.address_info["address"] == cluster.address
    res = minirt.cluster_resources()
    assert res["CPU"] == 3.0 and res["disk"] == 1.0
    assert [n["NodeID"] for n in minirt.nodes()] == [cluster.head_node.node_id, other.node_id]
    assert minirt.get(where.options(resources={"disk": 1}).remote()) == other.node_id


def test_add_node_after_init_joins_the_running_runtime(cluster):
    minirt.init(address=cluster.address)
    with pytest.warns(minirt.exceptions.InfeasibleWarning, match="gpu_box"):
        pending = where.options(resources={"gpu_box": 1}).remote()   # no node has it yet
    with pytest.raises(minirt.exceptions.GetTimeoutError):
        minirt.get(pending, timeout=0.5)                              # pending, as in Ray
    node = cluster.add_node(num_cpus=1, resources={"gpu_box": 1})
    assert minirt.cluster_resources()["CPU"] == 2.0
    assert minirt.get(pending, timeout=20) == node.node_id          # runs once it can
    assert minirt.get(where.options(resources={"gpu_box": 1}).remote()) == node.node_id
    # Both nodes take work: two 0.5 s naps on two 1-CPU nodes run side by side.
    assert set(minirt.get([nap.remote(0.5), nap.remote(0.5)])) == \
        {cluster.head_node.node_id, node.node_id}


def test_removed_node_loses_the_objects_only_it_held(cluster, capfd):
    node = cluster.add_node(num_cpus=1, resources={"w": 1})
    minirt.init(address=cluster.address)
    on_w = dict(resources={"w": 1})
    only_there = big_array.options(**on_w).remote()
    copied = big_array.options(**on_w).remote()
    small = small_value.options(**on_w).remote()
    minirt.wait([only_there, small], num_returns=2)
    assert minirt.get(copied).sum() == 100_000        # get copies it to the head node
    dependent_later = only_there
    cluster.remove_node(node)
    assert node not in cluster.worker_nodes
    with pytest.raises(ObjectLostError, match="removed"):
        minirt.get(only_there)
    with pytest.raises(ObjectLostError):               # a task taking it never runs
        minirt.get(total.remote(dependent_later))
    assert minirt.get(copied).sum() == 100_000         # a copy on a live node survives
    assert minirt.get(small) == 42                     # inline values live in the head
    assert [n["Alive"] for n in minirt.nodes()] == [True, False]
    assert minirt.cluster_resources()["CPU"] == 1.0 and "w" not in minirt.cluster_resources()
    time.sleep(0.3)                # the control thread has seen the killed workers' pipes
    assert "internal error" not in capfd.readouterr().err


def _busy_head():
    """Fill the head node's only CPU, so the next tasks and actors go to the other node."""
    blocker = nap.remote(4.0)         # long enough for what follows on a busy machine
    deadline = time.monotonic() + 5
    while not minirt.util.state.list_tasks(filters=[("state", "=", "RUNNING")]):
        assert time.monotonic() < deadline, "the blocker never started"
        time.sleep(0.02)
    return blocker


def test_running_task_is_retried_on_another_node(cluster, capfd):
    node = cluster.add_node(num_cpus=1)
    minirt.init(address=cluster.address)
    blocker = _busy_head()
    ref = nap.options(max_retries=1).remote(1.0)
    deadline = time.monotonic() + 5
    while len(minirt.util.state.list_tasks(filters=[("state", "=", "RUNNING")])) < 2:
        assert time.monotonic() < deadline, "the second task never started"
        time.sleep(0.02)
    [running] = minirt.util.state.list_tasks(filters=[("state", "=", "RUNNING"),
                                                       ("node_id", "=", node.node_id)])
    cluster.remove_node(node)
    assert minirt.get(ref, timeout=20) == cluster.head_node.node_id   # ran again, on the head
    assert minirt.get(blocker) == cluster.head_node.node_id
    assert [e["attempt"] for e in minirt.events() if e["kind"] == "retry"] == [1]
    assert minirt.util.state.get_task(running.task_id).attempt_number == 1
    assert "internal error" not in capfd.readouterr().err


def test_task_without_retries_fails_with_its_node():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        node = c.add_node(num_cpus=1)
        minirt.init(address=c.address)
        ref = nap.options(max_retries=0).remote(5)       # only node 1 has a CPU
        deadline = time.monotonic() + 10
        while not minirt.util.state.list_tasks(filters=[("state", "=", "RUNNING")]):
            assert time.monotonic() < deadline, "the task never started"
            time.sleep(0.02)
        c.remove_node(node)
        with pytest.raises(WorkerCrashedError, match="max_retries=0"):
            minirt.get(ref, timeout=10)
    finally:
        c.shutdown()


def test_tasks_no_live_node_can_run_fail_instead_of_waiting(cluster):
    node = cluster.add_node(num_cpus=1, resources={"w": 1})
    minirt.init(address=cluster.address)
    on_w = nap.options(resources={"w": 1})
    running, queued = on_w.remote(5), on_w.remote(5)          # w=1: one at a time
    waiting_for_arg = nap.options(resources={"w": 1}).remote(running)
    sleeper = Where.options(resources={"w": 1}).remote()      # cannot be placed either
    deadline = time.monotonic() + 10
    while not minirt.util.state.list_tasks(filters=[("state", "=", "RUNNING")]):
        assert time.monotonic() < deadline, "the first task never started"
        time.sleep(0.02)
    cluster.remove_node(node)
    for ref in (running, queued, waiting_for_arg):
        with pytest.raises(TaskUnschedulableError, match="was removed"):
            minirt.get(ref, timeout=10)
    with pytest.raises(ActorDiedError, match="cannot be placed"):
        minirt.get(sleeper.node.remote(), timeout=10)
    assert minirt.get(where.remote()) == cluster.head_node.node_id      # the rest still runs


@minirt.remote
class Where:
    def node(self):
        return node_id()


def test_actor_restarts_on_another_node_or_dies(cluster):
    node = cluster.add_node(num_cpus=2)
    minirt.init(address=cluster.address)
    blocker = _busy_head()
    lives = Where.options(max_restarts=1).remote()
    dies = Where.options(max_restarts=0).remote()
    assert minirt.get([lives.node.remote(), dies.node.remote()]) == [node.node_id] * 2
    cluster.remove_node(node)
    assert minirt.get(lives.node.remote(), timeout=20) == cluster.head_node.node_id
    with pytest.raises(ActorDiedError):
        minirt.get(dies.node.remote(), timeout=20)
    states = {a.actor_id: a.state for a in minirt.util.state.list_actors()}
    assert sorted(states.values()) == ["ALIVE", "DEAD"]
    del blocker                       # shutdown stops it


def test_cluster_shutdown_stops_the_runtime_and_nodes_can_start_again():
    c = Cluster(initialize_head=True, connect=True, head_node_args={"num_cpus": 1})
    assert minirt.is_initialized() and c.connected
    c.add_node(num_cpus=1)
    minirt.shutdown()                        # the cluster outlives a runtime...
    minirt.init(address=c.address)           # ...and a new one starts on the same nodes
    assert minirt.cluster_resources()["CPU"] == 2.0
    c.shutdown()
    assert not minirt.is_initialized() and c.address is None and c.list_all_nodes() == []


def test_bad_calls_raise_clear_errors(cluster):
    with pytest.raises(RuntimeError, match="initialize_head"):
        Cluster(connect=True)
    with pytest.raises(TypeError, match="head_node_args"):
        Cluster(initialize_head=True, head_node_args=2)
    with pytest.raises(TypeError, match="num_cpus"):
        cluster.add_node(num_cpus="two")
    with pytest.raises(ValueError, match="num_cpus"):
        cluster.add_node(num_cpus=-1)
    with pytest.raises(TypeError, match="colour"):
        cluster.add_node(colour="red")
    with pytest.raises(ValueError, match="GPU"):
        cluster.add_node(num_gpus=1)
    node = cluster.add_node()
    minirt.init(address=cluster.address)
    with pytest.raises(ValueError, match="head node"):
        cluster.remove_node(cluster.head_node)
    with pytest.raises(TypeError):
        cluster.remove_node("node-1")
    cluster.remove_node(node)
    with pytest.raises(ValueError, match="not a node of this cluster"):
        cluster.remove_node(node)
    assert minirt.get(where.remote()) == cluster.head_node.node_id       # still running


def test_init_address_forms(cluster):
    with pytest.raises(ValueError, match="import ray"):
        minirt.init(address="ray://example.com:10001")
    with pytest.raises(ValueError, match="one machine"):
        minirt.init(address="10.0.0.5:6379")
    with pytest.raises(ConnectionError, match="none is running"):
        minirt.init(address="auto")
    with pytest.raises(ValueError, match="num_cpus"):
        minirt.init(address=cluster.address, num_cpus=4)
    assert not minirt.is_initialized()
    ctx = minirt.init(address=cluster.address)
    assert minirt.init(address="auto")["node_id"] == ctx["node_id"]   # the running one
    with pytest.raises(RuntimeError, match="ignore_reinit_error"):
        minirt.init(address=cluster.address)
    minirt.shutdown()
    gone = cluster.address
    cluster.shutdown()
    with pytest.raises(ValueError, match="no Cluster"):
        minirt.init(address=gone)


def test_init_context_has_rays_keys_only(cluster):
    ctx = minirt.init(address=cluster.address)
    want = SCHEMA["init_context"]
    assert list(ctx.address_info) == want["address_info"]
    for attr in want["attributes"]:
        assert hasattr(ctx, attr), attr
    assert set(ctx) == set(want["address_info"])      # key access reads address_info, as in Ray
    assert ctx.dashboard_url is None
    with ctx:
        pass
    assert not minirt.is_initialized()


@pytest.mark.ray
def test_against_installed_ray():
    """Signatures and context keys compared with the installed Ray itself (skipped without Ray)."""
    ray = pytest.importorskip("ray")
    import ray.cluster_utils
    import ray._private.worker as rw
    for name in ("__init__", "add_node", "remove_node"):
        ours = inspect.signature(getattr(Cluster, name)).parameters
        theirs = inspect.signature(getattr(ray.cluster_utils.Cluster, name)).parameters
        assert [(p.name, p.kind, p.default) for p in ours.values()] == \
            [(p.name, p.kind, p.default) for p in theirs.values()]
    public = {m for m in dir(ray.cluster_utils.Cluster) if not m.startswith("_")}
    assert {"add_node", "remove_node", "address", "shutdown", "connect"} <= public
    for m in ("add_node", "remove_node", "address", "shutdown", "connect", "list_all_nodes",
              "wait_for_nodes", "gcs_address"):
        assert m in public and hasattr(Cluster, m), m
    for attr in ("dashboard_url", "python_version", "ray_version", "ray_commit", "disconnect"):
        assert hasattr(rw.RayContext, attr) or attr in rw.RayContext.__annotations__, attr
