"""The same small workload on minirt or on Ray; prints what the state API saw, as JSON.

Used by tests/test_state.py: ``python state_workload.py minirt|ray``.
"""

import json
import os
import sys
import time

if sys.argv[1] == "ray":
    import ray
    from ray.util.state import list_actors, list_nodes, list_objects, list_tasks, summarize_tasks
else:
    import minirt as ray
    from minirt.util.state import (list_actors, list_nodes, list_objects, list_tasks,
                                   summarize_tasks)


@ray.remote
def ok():
    return 1


@ray.remote(max_retries=0)
def bad():
    raise ValueError("no")


@ray.remote
def sleepy():
    time.sleep(60)


@ray.remote
class Counter:
    def incr(self):
        return 1


context = ray.init(num_cpus=2)
if sys.argv[1] == "ray":     # other Ray instances may run on this machine: ask this one
    os.environ["RAY_ADDRESS"] = context.address_info["gcs_address"]
c = Counter.options(name="tally").remote()
ray.get([c.incr.remote(), ok.remote()])
try:
    ray.get(bad.remote())
except ValueError:
    pass
running = sleepy.remote()
put_ref = ray.put(b"x" * 100)


def finished(tasks):
    states = {t.name: t.state for t in tasks}
    return (len(tasks) >= 5 and states.get("sleepy") == "RUNNING"
            and all(states.get(n) in ("FINISHED", "FAILED")
                    for n in ("ok", "bad", "Counter.incr", "tally:Counter.__init__")))


deadline = time.monotonic() + 60             # Ray reports task events a moment late
tasks = list_tasks()
while not finished(tasks) and time.monotonic() < deadline:
    time.sleep(0.5)
    tasks = list_tasks()
out = {
    "tasks": sorted([t.name, t.func_or_class_name, t.state, t.type, t.error_type,
                     t.actor_id is not None, t.attempt_number, t["job_id"] is not None]
                    for t in tasks),
    "task_fields": list(tasks[0].__dataclass_fields__),
    "actors": [[a.class_name, a.name, a.state, a.pid is not None] for a in list_actors()],
    "put": sorted([o.reference_type, o.task_status, o.type]
                  for o in list_objects(filters=[("object_id", "=", put_ref.hex())])),
    "nodes": [[n.is_head_node, n.state, n.resources_total["CPU"]] for n in list_nodes()],
    "summary": sorted(summarize_tasks()["cluster"]["summary"]),
    "summary_keys": sorted(summarize_tasks()["cluster"]),
}
print("RESULT " + json.dumps(out), flush=True)
ray.cancel(running, force=True)
ray.shutdown()
