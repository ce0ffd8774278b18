"""What two always-on features cost: the memory monitor, and ``list_tasks`` after many tasks.

Issue #17 asks that the cost of the features added alongside the performance
work be measured (the live task view has its own script, ``taskstream_cost.py``):

1. **The memory monitor** (``minirt/_memory_monitor.py``) is a driver thread
   that reads the machine's memory every ``MINIRT_memory_monitor_refresh_ms``
   (250 ms by default). Rounds alternate between the monitor on (the default)
   and off (``MINIRT_memory_monitor_refresh_ms=0``), each in a fresh process
   running the benchmark's 3,000 no-op tasks (submit all, then ``get`` all)
   several times. Each round reports its tasks/s and the driver's CPU time per
   task (``time.process_time``: every thread of the driver, so the monitor's own
   reads count), and whether the monitor thread was running (evidence that the
   setting took).
2. **``list_tasks`` after 100,000 finished tasks**: a process runs 100,000
   no-op tasks, then times ``list_tasks()`` (its default limit, 100 records),
   ``list_tasks(limit=100_000)``, the same with a filter on the state, and with
   ``detail=True``: best of 3 each, with the number of records returned.
   minirt remembers finished tasks while their events are in the event log
   (the last 20,000 events: about 6,700 tasks), so the records returned are
   those, not 100,000; the time is what a user waits.

Usage::

    .venv/bin/python benchmarks/feature_cost.py [--rounds 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MONITOR_ROUND = """
import json, threading, time, minirt
minirt.init(num_cpus=2)

@minirt.remote
def noop(x=None):
    return x

minirt.get([noop.remote(i) for i in range(200)])     # every worker up
rates, cpu_us = [], []
for _ in range({reps}):
    t, c = time.perf_counter(), time.process_time()
    minirt.get([noop.remote(i) for i in range({n})])
    cpu_us.append((time.process_time() - c) / {n} * 1e6)
    rates.append({n} / (time.perf_counter() - t))
monitor = any(t.name == "minirt-memory-monitor" for t in threading.enumerate())
minirt.shutdown()
print("RESULT", json.dumps(dict(rates=rates, cpu_us=cpu_us, monitor_thread=monitor)))
"""

LIST_TASKS = """
import json, time, minirt
from minirt.util.state import list_tasks
minirt.init(num_cpus=2)

@minirt.remote
def noop(x=None):
    return x

for start in range(0, {n}, 10_000):
    minirt.get([noop.remote(i) for i in range(start, min({n}, start + 10_000))])
calls = {{
    "list_tasks()": dict(),
    "list_tasks(limit=100_000)": dict(limit=100_000),
    "list_tasks(filters=[('state', '=', 'FINISHED')], limit=100_000)":
        dict(filters=[("state", "=", "FINISHED")], limit=100_000),
    "list_tasks(limit=100_000, detail=True)": dict(limit=100_000, detail=True),
}}
out = {{}}
for label, kwargs in calls.items():
    times = []
    for _ in range(3):
        t = time.perf_counter()
        rows = list_tasks(**kwargs)
        times.append(time.perf_counter() - t)
    out[label] = dict(best_s=min(times), samples_s=times, records=len(rows))
minirt.shutdown()
print("RESULT", json.dumps(out))
"""


def run(code: str, env_extra: dict) -> dict:
    """Run ``code`` in a fresh interpreter (minirt from this checkout); return its RESULT."""
    env = dict(os.environ, PYTHONPATH=ROOT, MINIRT_TEACHING_WARNINGS="0", **env_extra)
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=600, cwd=ROOT)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"the round printed no result (exit {p.returncode}):\n{p.stderr[-2000:]}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5, help="rounds per side of the monitor A/B")
    p.add_argument("--reps", type=int, default=5, help="3,000-task batches per round")
    p.add_argument("--tasks", type=int, default=3000)
    p.add_argument("--finished", type=int, default=100_000, help="tasks run before list_tasks")
    p.add_argument("--json", help="write every sample here")
    a = p.parse_args(argv)
    if a.rounds < 1 or a.reps < 1 or a.tasks < 1 or a.finished < 1:
        p.error("--rounds, --reps, --tasks and --finished must be 1 or more")

    sides = {"monitor on": {}, "monitor off": {"MINIRT_memory_monitor_refresh_ms": "0"}}
    rounds = {k: [] for k in sides}
    code = MONITOR_ROUND.format(reps=a.reps, n=a.tasks)
    for i in range(a.rounds):
        order = list(sides) if i % 2 == 0 else list(sides)[::-1]     # A B B A ...
        for side in order:
            r = run(code, sides[side])
            rounds[side].append(r)
            print(f"round {i + 1} {side:11}: {statistics.median(r['rates']):8,.0f} tasks/s, "
                  f"driver {statistics.median(r['cpu_us']):5.1f} µs CPU per task, "
                  f"monitor thread running: {r['monitor_thread']}", flush=True)
    summary = {}
    for side, rs in rounds.items():
        summary[side] = dict(
            tasks_per_s=statistics.median(statistics.median(r["rates"]) for r in rs),
            driver_cpu_us=statistics.median(statistics.median(r["cpu_us"]) for r in rs),
            monitor_thread=[r["monitor_thread"] for r in rs])
    on, off = summary["monitor on"], summary["monitor off"]
    print(f"monitor on / off: rate {on['tasks_per_s'] / off['tasks_per_s']:.3f}, "
          f"driver CPU per task {on['driver_cpu_us'] / off['driver_cpu_us']:.3f}")

    listing = run(LIST_TASKS.format(n=a.finished), {})
    for label, r in listing.items():
        print(f"{label}: {r['best_s']:.3f} s (best of 3), {r['records']:,} records")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(argv=sys.argv[1:], cpu_count=os.cpu_count(), loadavg=os.getloadavg(),
                           monitor_rounds=rounds, monitor_summary=summary,
                           list_tasks_after=a.finished, list_tasks=listing), f, indent=1)
        print("JSON:", a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
