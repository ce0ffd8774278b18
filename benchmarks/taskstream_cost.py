"""What the live task view costs: 3,000-task throughput with and without a TaskStream open.

The view only matters inside Jupyter, so it is measured there: a real
IPython kernel (started with jupyter_client, like a notebook's) runs the
benchmark's 3,000 no-op tasks (submit all, then ``get`` all) in rounds that
alternate between "no view" and "a TaskStream displayed and updating". The
kernel sends the view's widget messages to this client as it would to
JupyterLab; the client reads and counts them (so the cost of building and
sending them is included; drawing them is the browser's, not the runtime's).

Usage::

    .venv/bin/python benchmarks/taskstream_cost.py [--rounds 7] [--tasks 3000] [--json out.json]

Prints the median throughput of each side, the drop in percent (target: at
most 5%), the driver's CPU time per task on each side (the kernel process:
the submitting thread, the control thread and the view's thread; unlike wall
time it stays meaningful on a busy machine), and how many messages and bytes
the view sent.
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import threading
import time

from jupyter_client.manager import start_new_kernel

SETUP = """
import time, minirt
minirt.init(num_cpus=2)

@minirt.remote
def noop(x=None):
    return x

def rate(n):
    t, c = time.perf_counter(), time.process_time()
    minirt.get([noop.remote(i) for i in range(n)])
    cpu_us.append((time.process_time() - c) / n * 1e6)   # the driver's CPU per task
    return n / (time.perf_counter() - t)

minirt.get([noop.remote(i) for i in range(200)])     # every worker up
view = None
"""

ROUND = """
if {with_view}:
    view = minirt.util.TaskStream()
    display(view)
    time.sleep(0.3)
cpu_us = []
view_cpu0, t0 = (view.cpu_seconds if view is not None else 0.0), time.perf_counter()
rates = [rate({n}) for _ in range({reps})]
if view is not None:
    print("VIEW", (view.cpu_seconds - view_cpu0) / ({reps} * {n}) * 1e6,
          (view.cpu_seconds - view_cpu0) / (time.perf_counter() - t0))
    time.sleep(0.3)
    view.close()
    view = None
print("RATES", rates)
print("CPU", cpu_us)
"""


class _Kernel:
    def __init__(self, cwd):
        self.km, self.kc = start_new_kernel(kernel_name="python3", cwd=cwd)
        self.msgs = 0
        self.bytes = 0
        self._lock = threading.Lock()

    def run(self, code, timeout=300):
        msg_id = self.kc.execute(code)
        out, error = [], None
        deadline = time.monotonic() + timeout
        while True:
            try:
                m = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError("the kernel did not finish the cell in time") from None
            kind = m["msg_type"]
            if kind.startswith("comm"):
                self.msgs += 1
                self.bytes += len(json.dumps(m["content"])) + sum(len(b) for b in m.get("buffers", []))
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            if kind == "stream":
                out.append(m["content"]["text"])
            elif kind == "error":
                error = "\n".join(m["content"]["traceback"])
            elif kind == "status" and m["content"]["execution_state"] == "idle":
                break
        if error:
            raise RuntimeError(error)
        return "".join(out)

    def close(self):
        try:
            self.run("minirt.shutdown()", timeout=30)
        finally:
            self.kc.stop_channels()
            self.km.shutdown_kernel(now=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7, help="rounds per side (alternating)")
    ap.add_argument("--tasks", type=int, default=3000)
    ap.add_argument("--reps", type=int, default=3, help="measurements per round")
    ap.add_argument("--json", help="write the raw samples here")
    args = ap.parse_args(argv)
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    k = _Kernel(str(root))
    samples = {"without": [], "with": []}
    cpu = {"without": [], "with": []}
    view_cpu = []          # (view thread's CPU us per task, its share of one core) per round
    view_msgs = view_bytes = 0
    try:
        k.run(SETUP)
        for r in range(args.rounds):
            order = ("without", "with") if r % 2 == 0 else ("with", "without")
            for side in order:
                m0, b0 = k.msgs, k.bytes
                text = k.run(ROUND.format(with_view=side == "with", n=args.tasks, reps=args.reps))
                line = next(ln for ln in text.splitlines() if ln.startswith("RATES"))
                samples[side] += json.loads(line[len("RATES "):])
                line = next(ln for ln in text.splitlines() if ln.startswith("CPU"))
                cpu[side] += json.loads(line[len("CPU "):])
                if side == "with":
                    line = next(ln for ln in text.splitlines() if ln.startswith("VIEW"))
                    per_task, share = map(float, line.split()[1:])
                    view_cpu.append((per_task, share))
                if side == "with":
                    view_msgs += k.msgs - m0
                    view_bytes += k.bytes - b0
    finally:
        k.close()
    med = {side: statistics.median(xs) for side, xs in samples.items()}
    drop = 100.0 * (1.0 - med["with"] / med["without"])
    cpu_med = {side: statistics.median(xs) for side, xs in cpu.items()}
    cpu_more = 100.0 * (cpu_med["with"] / cpu_med["without"] - 1.0)
    print(f"{args.tasks:,} no-op tasks, {args.rounds} rounds x {args.reps} per side, medians:")
    print(f"  without the view: {med['without']:,.0f} tasks/s")
    print(f"  with a TaskStream open: {med['with']:,.0f} tasks/s")
    print(f"  drop: {drop:.1f}% (target: at most 5%)")
    print(f"  driver CPU per task: {cpu_med['without']:.1f} us without, {cpu_med['with']:.1f} us "
          f"with the view ({cpu_more:+.1f}%; CPU time is what a busy shared machine cannot blur)")
    vt = statistics.median(v[0] for v in view_cpu)
    vs = statistics.median(v[1] for v in view_cpu)
    print(f"  the view's own thread: {vt:.2f} us of CPU per task, {100 * vs:.1f}% of one core")
    print(f"  the view sent {view_msgs} widget messages, {view_bytes / 1024:.0f} KiB, "
          f"over {args.rounds} rounds")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"samples": samples, "median": med, "drop_percent": drop,
                       "driver_cpu_us_per_task": cpu, "cpu_more_percent": cpu_more,
                       "view_thread_cpu": view_cpu,
                       "view_messages": view_msgs, "view_bytes": view_bytes,
                       "tasks": args.tasks}, f, indent=1)
    return drop


if __name__ == "__main__":
    main()
