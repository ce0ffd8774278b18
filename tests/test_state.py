"""minirt.util.state: Ray's state API, its field names and state values, filters and limits."""

import dataclasses
import inspect
import json
import os
import time

import pytest

import minirt
from minirt.util import state
from tests.ray_tagged import kill_tagged   # Ray daemons that escaped
from tests.shared_remotes import Counter

SCHEMA = json.load(open(os.path.join(os.path.dirname(__file__), "data", "ray_state_schema.json")))
CLASSES = {"TaskState": state.TaskState, "ActorState": state.ActorState,
           "ObjectState": state.ObjectState, "NodeState": state.NodeState,
           "WorkerState": state.WorkerState}


@minirt.remote
def nap(seconds):
    time.sleep(seconds)
    return seconds


@minirt.remote
def boom():
    raise KeyError("no")


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def by_name(tasks, name):
    return [t for t in tasks if t.name == name]


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_fields_are_rays(name):
    """Field names, their order and the detail-only ones, as stored from Ray 2.60."""
    cls, want = CLASSES[name], SCHEMA["schemas"][name]
    assert [f.name for f in dataclasses.fields(cls)] == want["fields"]
    assert [f.name for f in dataclasses.fields(cls) if f.metadata.get("detail")] == \
        want["detail_only"]
    assert sorted(cls.filterable_columns()) == want["filterable"]


def test_signatures_are_rays():
    for fn in ("list_tasks", "list_actors", "list_objects", "list_nodes", "list_workers"):
        params = inspect.signature(getattr(state, fn)).parameters
        assert list(params) == ["address", "filters", "limit", "timeout", "detail",
                                "raise_on_missing_output", "_explain"]
        assert params["limit"].default == 100 and params["detail"].default is False
    assert list(inspect.signature(state.get_task).parameters)[:1] == ["id"]


def test_task_states_through_a_life(rt):
    slow = nap.remote(1.0)
    waiting = nap.remote(slow)                   # waits for slow's result
    failed = boom.remote()
    done = nap.remote(0)
    minirt.wait([failed, done], num_returns=2)
    wait_for(lambda: by_name(state.list_tasks(filters=[("state", "=", "RUNNING")]), "nap"))
    tasks = state.list_tasks()
    values = SCHEMA["values"]["TypeTaskStatus"]
    assert all(t.state in values and t.type in SCHEMA["values"]["TypeTaskType"] for t in tasks)
    naps = {t.task_id: t for t in by_name(tasks, "nap")}
    states = sorted(t.state for t in naps.values())
    assert states == ["FINISHED", "PENDING_ARGS_AVAIL", "RUNNING"]
    [bad] = by_name(tasks, "boom")
    assert bad.state == "FAILED" and bad.error_type == "TASK_EXECUTION_EXCEPTION"
    running = [t for t in naps.values() if t.state == "RUNNING"][0]
    assert running.node_id == minirt.get_runtime_context().get_node_id()
    assert running.worker_id.startswith("worker-") and running.worker_pid > 0
    assert running.type == "NORMAL_TASK" and running.func_or_class_name == "nap"
    assert running["state"] == running.state and "task_id" in running    # key access too
    assert running.required_resources is None                             # detail only
    minirt.get(waiting)
    after = {t.task_id: t.state for t in by_name(state.list_tasks(), "nap")}
    assert sorted(after.values()) == ["FINISHED"] * 3 and set(after) == set(naps)


def test_pending_node_assignment_and_detail(rt):
    hogs = [nap.options(num_cpus=4).remote(0.8), nap.options(num_cpus=4).remote(0)]
    wait_for(lambda: state.list_tasks(filters=[("state", "=", "RUNNING")]))
    queued = state.list_tasks(filters=[("state", "=", "PENDING_NODE_ASSIGNMENT")], detail=True)
    assert len(queued) == 1 and queued[0].required_resources == {"CPU": 4.0}
    minirt.get(hogs)
    done = state.get_task(queued[0].task_id)
    assert done.state == "FINISHED" and done.language == "PYTHON"
    assert done.creation_time_ms <= done.start_time_ms <= done.end_time_ms
    seen = [e["state"] for e in done.events]
    assert seen[0] == "PENDING_ARGS_AVAIL" and seen[-1] == "FINISHED" and "RUNNING" in seen


def test_actors_and_their_tasks(rt):
    c = Counter.options(name="tally").remote()
    assert minirt.get([c.incr.remote(), c.incr.remote()]) == [1, 2]
    [a] = state.list_actors()
    assert (a.class_name, a.name, a.state) == ("Counter", "tally", "ALIVE")
    assert a.state in SCHEMA["values"]["TypeActorStatus"] and a.pid > 0
    tasks = state.list_tasks()
    [init] = [t for t in tasks if t.type == "ACTOR_CREATION_TASK"]
    assert init.name == "tally:Counter.__init__" and init.state == "FINISHED"   # Ray's naming
    calls = [t for t in tasks if t.type == "ACTOR_TASK"]
    assert [t.name for t in calls] == ["Counter.incr"] * 2
    assert {t.actor_id for t in calls} == {init.actor_id, a.actor_id}
    assert state.get_actor(a.actor_id).num_restarts == 0
    minirt.kill(c)
    wait_for(lambda: state.list_actors()[0].state == "DEAD")
    summary = state.summarize_actors()["cluster"]
    assert summary["summary"]["Counter"]["state_counts"] == {"DEAD": 1}
    assert summary["total_actors"] == 1


def test_objects_and_reference_types(rt):
    put_ref = minirt.put(b"x" * 1000)
    pending = nap.remote(1.0)
    waiting = nap.remote(pending)               # pins `pending` as a pending task's argument
    wait_for(lambda: state.list_tasks(filters=[("state", "=", "RUNNING")]))
    objs = state.list_objects()
    assert all(o.reference_type in SCHEMA["values"]["TypeReferenceType"] for o in objs)
    mine = [o for o in objs if o.object_id == put_ref.hex()]
    assert [(o.reference_type, o.task_status, o.type) for o in mine] == \
        [("LOCAL_REFERENCE", "FINISHED", "DRIVER")]
    assert mine[0].object_size >= 1000
    of_pending = {o.reference_type: o for o in objs if o.object_id == pending.hex()}
    assert set(of_pending) == {"LOCAL_REFERENCE", "USED_BY_PENDING_TASK"}
    assert of_pending["LOCAL_REFERENCE"].object_size == -1               # not made yet
    assert state.get_objects(put_ref.hex())[0].object_id == put_ref.hex()
    s = state.summarize_objects()["cluster"]
    assert s["total_objects"] == len(objs) and s["callsite_enabled"] is False
    minirt.get(waiting)


def test_nodes_workers_and_filters(rt):
    minirt.get(nap.remote(0))
    [n] = state.list_nodes()
    assert n.is_head_node and n.state == "ALIVE" and n.resources_total["CPU"] == 4.0
    assert n.node_id == minirt.get_runtime_context().get_node_id()
    assert state.get_node(n.node_id).node_id == n.node_id
    workers = state.list_workers()
    assert workers[0].worker_type == "DRIVER" and workers[0].pid == os.getpid()
    assert {w.worker_type for w in workers[1:]} == {"WORKER"}
    assert all(w.node_id == n.node_id for w in workers)
    assert state.list_workers(filters=[("is_alive", "=", "true")], limit=1)[0].is_alive
    assert len(state.list_workers(limit=2)) == 2
    assert state.list_workers(filters=[("worker_type", "!=", "DRIVER")]) == workers[1:]


def test_task_summary_shape(rt):
    minirt.get([nap.remote(0) for _ in range(3)])
    s = state.summarize_tasks()
    want = SCHEMA["summaries"]["summarize_tasks"]
    assert list(s) == ["cluster"] and set(s["cluster"]) == set(want["cluster"])
    entry = s["cluster"]["summary"]["nap"]
    assert set(entry) == set(want["entry"]) and entry["state_counts"] == {"FINISHED": 3}
    assert s["cluster"]["total_tasks"] == 3


def test_finished_tasks_listed_after_a_batch_larger_than_the_log(rt):
    """12,000 tasks at once write 36,000 events into a log of 20,000: the first
    submissions are gone before the last tasks end. Those tasks are still listed
    (from their "place" and "finish" events); the answer was once an empty list."""
    minirt.get([nap.remote(0) for _ in range(12_000)])
    finished = state.list_tasks(filters=[("state", "=", "FINISHED")], limit=100_000,
                                detail=True)
    assert len(finished) >= 6_000, f"only {len(finished)} finished tasks listed"
    assert {(t.name, t.type) for t in finished} == {("nap", "NORMAL_TASK")}
    assert all(t.start_time_ms <= t.end_time_ms for t in finished)
    assert state.summarize_tasks()["cluster"]["summary"]["nap"]["state_counts"]["FINISHED"] \
        == len(finished)


def test_state_from_inside_a_task(rt):
    @minirt.remote
    def count_running():
        return [t.name for t in state.list_tasks(filters=[("state", "=", "RUNNING")])]
    assert minirt.get(count_running.remote()) == ["count_running"]


def test_bad_arguments(rt):
    with pytest.raises(ValueError, match="bogus"):
        state.list_tasks(filters=[("bogus", "=", 1)])
    with pytest.raises(ValueError, match="predicate"):
        state.list_tasks(filters=[("state", "~", "RUNNING")])
    with pytest.raises(TypeError, match="tuple"):
        state.list_tasks(filters=["state=RUNNING"])
    with pytest.raises(TypeError):
        state.list_tasks(filters="state")
    with pytest.raises(ValueError, match="limit"):
        state.list_tasks(limit=0)
    with pytest.raises(TypeError, match="limit"):
        state.list_tasks(limit="10")
    with pytest.raises(TypeError):
        state.get_task(12)
    assert state.get_task("00" * 16) is None


def test_needs_a_running_runtime():
    with pytest.raises(RuntimeError, match="init"):
        state.list_tasks()


@pytest.mark.ray
def test_schema_matches_installed_ray():
    """The stored schema is the installed Ray's (skipped when Ray is not installed)."""
    pytest.importorskip("ray")
    from ray.util import state as ray_state
    from ray.util.state import common
    for name, cls in CLASSES.items():
        theirs = getattr(common, name)
        assert [f.name for f in dataclasses.fields(cls)] == \
            [f.name for f in dataclasses.fields(theirs)]
        assert cls.filterable_columns() == set(theirs.filterable_columns())
    for fn in ("list_tasks", "list_actors", "list_objects", "list_nodes", "list_workers",
               "get_task", "get_actor", "get_node", "get_worker", "get_objects",
               "summarize_tasks", "summarize_actors", "summarize_objects"):
        ours = inspect.signature(getattr(state, fn)).parameters
        theirs = inspect.signature(getattr(ray_state, fn)).parameters
        assert [(p.name, p.default) for p in ours.values()] == \
            [(p.name, p.default) for p in theirs.values()], fn
    import typing
    for key, values in SCHEMA["values"].items():
        assert list(typing.get_args(getattr(common, key))) == values, key


@pytest.mark.ray
@pytest.mark.slow
def test_same_answers_as_ray_on_the_same_workload():
    """tests/data/state_workload.py on minirt and on the installed Ray: the same records."""
    pytest.importorskip("ray")
    import shutil
    import subprocess
    import sys
    import tempfile
    script = os.path.join(os.path.dirname(__file__), "data", "state_workload.py")
    results = {}
    for backend in ("minirt", "ray"):
        tmp = tempfile.mkdtemp(prefix="rt-", dir="/tmp")     # short: Ray puts sockets there
        env = dict(os.environ, RAY_TMPDIR=tmp, RAY_USAGE_STATS_ENABLED="0")
        env.pop("RAY_ADDRESS", None)
        try:
            out = subprocess.run([sys.executable, script, backend], env=env, timeout=240,
                                 capture_output=True, text=True)
        finally:
            kill_tagged(tmp)
            shutil.rmtree(tmp, ignore_errors=True)
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
        assert lines, f"{backend} printed no result:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
        results[backend] = json.loads(lines[0][len("RESULT "):])
    for key in results["ray"]:
        assert results["minirt"][key] == results["ray"][key], key
