"""Where minirt's per-task time goes, measured in CPU time (so it holds on a busy machine).

For ``make_array(n)`` tasks (the granularity experiment) it reports, per task:
the driver's CPU time (submitting thread + control thread), the workers' CPU
time beyond the work itself, the idle gap a worker waits between two tasks
(from ``minirt.timeline()``), and the crossover a 2-core machine would reach
if nobody else used it (remote wins once one call's work exceeds the
overhead that the two cores must also carry)::

    .venv/bin/python benchmarks/overhead.py            # a few n, 5 repetitions
    .venv/bin/python benchmarks/overhead.py --reps 10 --n 10000 30000

CPU times come from /proc in clock ticks (10 ms), so use enough repetitions.
To see *which functions* cost the time, profile the same workload with py-spy
(in a scratch venv: ``pip install py-spy``)::

    py-spy record --subprocesses -r 500 -f raw -o prof.txt -- \\
        .venv/bin/python benchmarks/overhead.py --reps 20 --n 30000
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import statistics
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TICK = os.sysconf("SC_CLK_TCK")


def make_array(n):
    return np.random.standard_normal(n)


def cpu_of(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        x = f.read().rsplit(")", 1)[1].split()
    return (int(x[11]) + int(x[12])) / _TICK


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[1000, 10_000, 30_000, 100_000, 300_000])
    p.add_argument("--reps", type=int, default=5, help="batches of 100 tasks per n")
    p.add_argument("--num-cpus", type=int, default=2)
    a = p.parse_args(argv)
    sys.path.insert(0, ROOT)
    import minirt

    minirt.init(num_cpus=a.num_cpus)
    try:
        remote = minirt.remote(make_array)
        minirt.get([remote.remote(100) for _ in range(50 * a.num_cpus)])   # every worker up
        pids = sorted({int(re.search(r"pid (\d+)", e["tid"]).group(1)) for e in minirt.timeline()})
        print(f"{len(pids)} workers; per task (µs): driver CPU | worker CPU beyond the work | "
              "worker idle gap (median) | work itself")
        overheads = []
        for n in a.n:
            c0 = time.process_time()
            for _ in range(a.reps):
                out = [make_array(n) for _ in range(100)]
                del out
            work = (time.process_time() - c0) / a.reps / 100
            d0, w0, t0 = os.times(), sum(cpu_of(q) for q in pids), time.time()
            for _ in range(a.reps):
                out = minirt.get([remote.remote(n) for _ in range(100)])
                del out
            gc.collect()
            time.sleep(0.2)                   # let the control thread apply the frees
            d1, w1 = os.times(), sum(cpu_of(q) for q in pids)
            k = a.reps * 100
            driver = ((d1.user + d1.system) - (d0.user + d0.system)) / k
            worker = (w1 - w0) / k - work
            gaps = []
            rows = {}
            for e in minirt.timeline():
                if e["ts"] >= t0 * 1e6:
                    rows.setdefault(e["tid"], []).append((e["ts"], e["dur"]))
            for xs in rows.values():
                xs.sort()
                gaps += [b - (s + d) for (s, d), (b, _) in zip(xs, xs[1:])]
            gap = statistics.median(gaps) if gaps else float("nan")
            overheads.append(driver + max(worker, 0.0))
            print(f"n={n:>8,}: {driver * 1e6:8.0f} | {worker * 1e6:8.0f} | {gap:8.0f} | {work * 1e6:8.0f}")
        per_elem = work / a.n[-1]
        o = statistics.median(overheads)
        print(f"work ≈ {per_elem * 1e9:.1f} ns per element; overhead ≈ {o * 1e6:.0f} µs per task "
              f"→ crossover on {a.num_cpus} idle cores ≈ n = {o / per_elem:,.0f} (ideal overlap)")
    finally:
        minirt.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
