"""minirt side by side with Ray and concurrent.futures.ProcessPoolExecutor.

Run from the repository root::

    .venv/bin/python benchmarks/bench.py                       # all systems, 3 rounds
    .venv/bin/python benchmarks/bench.py --systems minirt --quick
    .venv/bin/python benchmarks/bench.py --json out.json --chart out.html
    .venv/bin/python benchmarks/bench.py --report out.json   # the tables again, from the JSON

Each round runs every system once, in a fresh subprocess of its own (so
minirt's and Ray's processes never mix, and each round starts cold); the order
of the systems rotates from round to round, so slow drift on a shared machine
(someone else's notebook) spreads over all of them. The table shows the median
over the rounds; the JSON (``--json``) keeps every raw sample, the load average
before and after each subprocess, and the versions.

Shared machines: ``--wait-quiet SECONDS`` waits (up to that long) before each
system-round until the machine is mostly idle; before and after each one, two
probe processes report how many cores they actually got; and each round
records how many cores *other* processes used meanwhile (from /proc). The
granularity figure, the one most sensitive to a stolen core, runs its grid in
3 sweeps, keeps the fastest sweep per n, and measures an n again (up to 4
times) when others took more than 0.3 core while it ran.

``--minirt-root DIR`` measures another copy of minirt, e.g. an exported commit
(``git archive HEAD minirt | tar -x -C DIR``), to compare before and after a change.
``--base-root DIR`` adds that copy as a system of its own, "before" (``base``),
measured in the same rounds as the others (A B A B), so issue #17's targets come
out as ratios of one run: against PPE, against ``pipe`` (a raw echo over a
socketpair, the floor) and against "before". The ratio table is printed after
the figures (see ``figures.RATIOS``); ``curves.py`` plots the scaling curves.
``--load N`` keeps N busy-looping processes running during the whole run, so
"on a busy machine" is measured, not guessed.

Ray is never a dependency of minirt: it is imported by a separate interpreter,
``--ray-python`` (default ``/tmp/rayvenv/bin/python`` if it exists; make one with
``bash benchmarks/setup_ray_venv.sh``). A system that is missing, crashes or
times out is reported as such and the run goes on; a round that makes no
progress for 5 minutes dumps its threads' stacks (kept in the JSON) and ends.

Sizes (full run): 1,000 samples for round trips; 3,000 tasks (3 repetitions)
for throughput; granularity: ``make_array(n)`` (``np.random.standard_normal(n)``,
as in lessons/05_tasks_revisited.ipynb), 100 trials per n, n on the grid
100, 200, 300, 500, 800, 1000, ... 800,000; 100 MB arrays; 10,000 pending tasks;
100,000 tasks at once; 1,000,000 tasks at once (first round only: ``--million N``
changes the size, 0 leaves it out); scaling with num_cpus 1, 2, 4, 8; busy tasks
of 50, 200, 1,000 and 5,000 µs. ``--quick`` takes fewer samples, a coarser grid and
skips the 100,000- and 1,000,000-task figures (``--many-tasks N`` and ``--million N``
bring them back); ``--tiny`` shrinks every size (for the smoke test, not for
figures you quote).

Issue #17's other curves, each a figure holding every point (``figures.CURVES``),
each on a runtime of its own: 3,000 no-op tasks on 1, 4, 16 simulated nodes of 2
CPUs (``cluster_utils.Cluster``); 3,000 actor calls round robin over 10, 100, 1,000
live actors, and 3,000 plain tasks while they live (with each actor worker's
memory; the curve stops early, saying why, if the machine's free memory would not
cover the next step); one task over 10,000 and 100,000 ready refs, as arguments and
as one list it gets itself; driver memory per pending task with 10,000, 100,000,
1,000,000 tasks pending behind blockers (PPE too). ``--quick``: 10 and 100 actors,
10,000 refs, up to 100,000 pending; ``--nodes``, ``--actors``, ``--fanin``,
``--pending-curve`` set the sizes. ``--only curves`` measures just these (``--only``
takes any of ``figures.MEASUREMENTS``); ``--report`` prints them as a third table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from figures import (ALL, BY_KEY, CURVES, DURATIONS_US, FIGURES, MEASUREMENTS,  # noqa: E402
                     NAMES, NEW_CURVES, RATIOS, crossover, curve_points, expected, group_of,
                     label_sizes)

DEFAULT_RAY_PYTHON = "/tmp/rayvenv/bin/python"
FULL_GRID = [i * 10 ** j for j in range(2, 6) for i in (1, 2, 3, 5, 8)]


def make_config(args) -> dict:
    cfg = dict(num_cpus=args.num_cpus, sync_samples=1000, reps=3, n_tasks=3000, trials=100,
               grid=FULL_GRID, gran_sweeps=3, gran_retries=4, big_bytes=100 * 10 ** 6, big_samples=5,
               n_pending=10_000, n_many=100_000, n_million=1_000_000, scaling=[1, 2, 4, 8],
               durations_us=list(DURATIONS_US), duration_span_s=0.5, skip=[],
               stall_s=300, repo_root=args.minirt_root, base_root=args.base_root,
               nodes=[1, 4, 16], node_cpus=2, actors=[10, 100, 1000], fanin=[10_000, 100_000],
               pending_curve=[10_000, 100_000, 1_000_000], actor_mem_margin_gb=4.0)
    if args.quick:
        cfg.update(sync_samples=200, reps=2, big_samples=3, n_pending=2_000, gran_sweeps=1,
                   gran_retries=1,
                   grid=[i * 10 ** j for j in range(2, 6) for i in (1, 3)] + [800_000])
        if args.many_tasks is None:
            cfg["skip"] = ["many_tasks_s"]
        if args.million is None:
            cfg["skip"] = cfg["skip"] + ["million_tasks_s"]
        cfg.update(actors=[10, 100], fanin=[10_000], pending_curve=[10_000, 100_000])
    if args.tiny:
        cfg.update(sync_samples=20, reps=1, n_tasks=100, trials=5, grid=[100, 10_000, 100_000],
                   gran_sweeps=1, gran_retries=0, big_bytes=2 * 10 ** 6, big_samples=2, n_pending=100, n_many=500,
                   n_million=1000, durations_us=[200, 5000], duration_span_s=0.05, stall_s=60,
                   nodes=[1, 2], actors=[2, 4], fanin=[100, 1000], pending_curve=[100, 1000])
    if args.many_tasks is not None:
        cfg["n_many"] = args.many_tasks
    if args.million is not None:
        cfg["n_million"] = args.million
        if args.million <= 0:
            cfg["skip"] = cfg["skip"] + ["million_tasks_s"]
    for key in ("nodes", "actors", "fanin", "pending_curve"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    if args.only:
        cfg["only"] = list(args.only)
        cfg["skip"] = sorted(set(cfg["skip"]) | (set(MEASUREMENTS) - set(args.only)))
    return cfg


def interpreter(system: str, args) -> str | None:
    if system == "ray":
        return args.ray_python if args.ray_python and os.path.exists(args.ray_python) else None
    return sys.executable


def _cpu_times():
    """(idle, total) jiffies of the whole machine, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            xs = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return xs[3] + xs[4], sum(xs[:8])


def busy_fraction(window: float = 1.0):
    """Share of the machine's CPU time others (and we) used over ``window`` seconds."""
    a = _cpu_times()
    time.sleep(window)
    b = _cpu_times()
    if not a or not b or b[1] == a[1]:
        return None
    return 1.0 - (b[0] - a[0]) / (b[1] - a[1])


def wait_quiet(limit_s: float, threshold: float) -> float | None:
    """Wait (up to ``limit_s``) until the machine is mostly idle; return the last busy share."""
    deadline = time.monotonic() + limit_s
    while True:
        b = busy_fraction(1.0)
        if b is None or b <= threshold or time.monotonic() >= deadline:
            return b


_PROBE = """
import os, sys, time
n = int(sys.argv[1]); w0 = time.perf_counter(); c0 = time.process_time(); x = 0
for i in range(n):
    x += i * i
w = time.perf_counter() - w0; c = time.process_time() - c0
print(c / w if w > 0 else 0.0)
"""


def probe_cores(n: int = 2, loop: int = 3_000_000) -> float | None:
    """How many cores n CPU-bound processes actually got (about n on an idle machine).

    Each probe times a pure-Python loop (~0.2 s) and reports CPU time / wall time;
    the sum over n probes started together is the parallelism the machine gave us.
    """
    try:
        ps = [subprocess.Popen([sys.executable, "-c", _PROBE, str(loop)], stdout=subprocess.PIPE,
                               text=True) for _ in range(n)]
        return sum(float(p.communicate(timeout=60)[0]) for p in ps)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def run_one(system: str, rnd: int, cfg: dict, args) -> dict:
    """One system, one round, in a subprocess; never raises."""
    busy = wait_quiet(args.wait_quiet, args.quiet_threshold) if args.wait_quiet > 0 else None
    cores = probe_cores(min(2, os.cpu_count() or 1)) if not args.tiny else None
    res = _run_one(system, rnd, cfg, args)
    res["machine_busy_before"] = busy
    res["cores_available_before"] = cores
    res["cores_available_after"] = probe_cores(min(2, os.cpu_count() or 1)) if not args.tiny else None
    return res


def _run_one(system: str, rnd: int, cfg: dict, args) -> dict:
    py = interpreter(system, args)
    if py is None:
        return {"system": system, "round": rnd, "unavailable":
                f"no Ray interpreter (--ray-python {args.ray_python!r} does not exist; "
                "create one with: bash benchmarks/setup_ray_venv.sh)"}
    fd, out = tempfile.mkstemp(prefix=f"bench-{system}-", suffix=".json")
    os.close(fd)
    log = out[:-5] + ".log"
    env = dict(os.environ, PYTHONUNBUFFERED="1", RAY_USAGE_STATS_ENABLED="0")
    if system in ("minirt", "base"):
        # --minirt-root / --base-root must reach the workers too, not only the driver: they
        # are forked from a forkserver that imports minirt through the environment's path.
        root = cfg["repo_root"] if system == "minirt" else cfg["base_root"]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    if rnd > 0 and "million_tasks_s" not in cfg["skip"]:
        cfg = dict(cfg, skip=cfg["skip"] + ["million_tasks_s"])     # first round only
    cmd = [py, os.path.join(HERE, "measure.py"), "--system", system,
           "--config", json.dumps(cfg), "--out", out]
    t0 = time.perf_counter()
    cpu0 = _cpu_times()
    with open(log, "w") as logf:
        # A session of its own: on a time-out the whole group (workers too) is stopped.
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=logf, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=args.timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            code = None
            _stop_group(proc)
    wall = time.perf_counter() - t0
    cpu1 = _cpu_times()
    res = {}
    try:
        with open(out) as f:
            res = json.load(f)
    except (OSError, ValueError):
        pass
    res.update(system=system, round=rnd, exit_code=code, subprocess_wall_s=wall)
    if cpu0 and cpu1 and cpu1[1] > cpu0[1]:
        # Includes the benchmark's own work: near 1.0 is normal, it is a record, not a check.
        res["machine_busy_during"] = 1.0 - (cpu1[0] - cpu0[0]) / (cpu1[1] - cpu0[1])
    if timed_out:
        res["fatal"] = f"timed out after {args.timeout} s"
    elif code != 0 and "fatal" not in res:
        res["fatal"] = f"exit code {code}"
    if "fatal" in res or res.get("errors"):
        with open(log, errors="replace") as f:
            res["log_tail"] = f.read()[-4000:]
    if args.verbose:
        with open(log, errors="replace") as f:
            sys.stderr.write(f.read())
    for p in (out, log):
        try:
            os.unlink(p)
        except OSError:
            pass
    return res


def _stop_group(proc):
    import signal
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            pass


# ------------------------------------------------------------------------------ summary




def summarize(runs: list[dict], systems: list[str], cfg: dict) -> dict:
    """Median over rounds of every figure, per system, plus why a value is missing."""
    summary = {}
    for f in FIGURES:
        row = {}
        for s in systems:
            mine = [r for r in runs if r["system"] == s]
            vals = [r["figures"][f.key]["value"] for r in mine
                    if f.key in r.get("figures", {}) and r["figures"][f.key]["value"] is not None]
            if s not in f.systems:
                row[s] = {"value": None, "status": "n/a"}
            elif f.key == "granularity_crossover_n":
                row[s] = _granularity(mine, cfg)
            elif vals:
                row[s] = {"value": statistics.median(vals), "rounds": vals}
            else:
                row[s] = {"value": None, "status": _why_missing(mine, f)}
        summary[f.key] = row
    return summary


def _granularity(mine, cfg):
    per = [r["figures"]["granularity_crossover_n"] for r in mine
           if "granularity_crossover_n" in r.get("figures", {})]
    if not per:
        return {"value": None, "status": _why_missing(mine, BY_KEY["granularity_crossover_n"])}
    grid = per[0]["grid"]
    local = [statistics.median(p["local_s"][i] for p in per) for i in range(len(grid))]
    remote = [statistics.median(p["remote_s"][i] for p in per) for i in range(len(grid))]
    n = crossover(grid, local, remote)
    out = {"value": n, "grid": grid, "local_s": local, "remote_s": remote,
           "rounds": [p["value"] for p in per]}
    if n is None:
        out["status"] = f"remote slower up to {max(grid):,}"
    return out


def _why_missing(mine, f):
    if not mine:
        return "not run"
    r = mine[-1]
    if "unavailable" in r:
        return "unavailable"
    errs = [x.get("errors", {}) for x in mine]
    for key in (f.key, group_of(f.key)):
        for e in errs:
            if key in e:
                return "skipped" if e[key] == "skipped" else "failed"
    if any("fatal" in x for x in mine):
        return "failed"
    return "missing"


def fmt(v) -> str:
    if v is None:
        return "—"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def _cell(entry, f, cfg):
    if entry["value"] is not None:
        return fmt(entry["value"])
    st = entry.get("status", "—")
    if f.key == "granularity_crossover_n" and "grid" in entry:
        return f"> {max(entry['grid']):,}"
    return st


def table(summary: dict, cfg: dict, systems: list[str]) -> tuple[str, list[dict]]:
    shown = [s for s in ALL if s in systems] or ["minirt"]
    others = [s for s in shown if s != "minirt"]
    head = (["figure"] + [NAMES[s] for s in shown] + [f"minirt/{NAMES[s]}" for s in others]
            + ["target (minirt)"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows = []
    for f in FIGURES:
        if not any(f in expected(s, cfg) for s in systems):
            continue
        row = summary[f.key]
        cells = [f.title(cfg)]
        for s in shown:
            cells.append(_cell(row[s], f, cfg) if s in row else "not run")
        m = row.get("minirt", {}).get("value")
        ratios = {}
        for other in others:
            o = row.get(other, {}).get("value")
            ratios[other] = m / o if (m is not None and o) else None
            cells.append(f"{ratios[other]:.2f}" if ratios[other] is not None else "—")
        met = f.met(m)
        if f.target is None:
            tgt = "—"
        else:
            op, bound = f.target
            sym = "≤" if op == "<=" else "≥"
            verdict = "met" if met else "**missed**"
            if "minirt" not in row:
                verdict = "not run"
            elif m is None and f.key == "granularity_crossover_n" and row["minirt"].get("grid"):
                verdict = "**missed**"
            elif m is None:
                verdict = row["minirt"].get("status", "—")
            tgt = f"{sym} {fmt(bound)}: {verdict}"
        cells.append(tgt)
        lines.append("| " + " | ".join(cells) + " |")
        rows.append({"key": f.key, "figure": f.title(cfg), "better": f.better,
                     "values": {s: row[s]["value"] for s in row},
                     "ratio_minirt_ray": ratios.get("ray"), "ratio_minirt_ppe": ratios.get("ppe"),
                     "ratios": ratios,
                     "target": list(f.target) if f.target else None, "met": met})
    return "\n".join(lines), rows


def _value(run: dict, key: str):
    if key == "granularity_crossover_n":
        e = run.get("figures", {}).get(key)
        if e is None:
            return None
        # "remote never won on the grid" counts as the grid's end (a lower bound).
        return e["value"] if e["value"] is not None else max(e["grid"])
    e = run.get("figures", {}).get(key)
    return e.get("value") if e else None


def ratios(runs: list[dict], cfg: dict) -> list[dict]:
    """Issue #17's targets: each ratio per round (both sides from the same round), median."""
    out = []
    for r in RATIOS:
        per = []
        for rnd in sorted({x["round"] for x in runs}):
            side = {}
            for name, (system, key) in (("num", r.num), ("den", r.den)):
                got = [_value(x, key) for x in runs if x["round"] == rnd and x["system"] == system]
                side[name] = got[0] if got else None
            if side["num"] is not None and side["den"]:
                per.append(side["num"] / side["den"])
        v = statistics.median(per) if per else None
        out.append({"key": r.key, "label": r.label.format(**label_sizes(cfg)), "value": v,
                    "rounds": per, "target": list(r.target) if r.target else None,
                    "met": r.met(v), "num": list(r.num), "den": list(r.den)})
    return out


def curve_table(runs: list[dict], systems: list[str]) -> str:
    """Issue #17's curves, point by point (median of the rounds per point); "" if none."""
    shown = [s for s in ALL if s in systems]
    lines = []
    for key, (_, name) in CURVES.items():
        pts = {s: dict(curve_points(runs, key, s)) for s in shown}
        for x in sorted({x for p in pts.values() for x in p}):
            lines.append(f"| {name} | {x:,} | " + " | ".join(fmt(pts[s].get(x)) for s in shown)
                         + " |")
    if not lines:
        return ""
    head = "| curve | n | " + " | ".join(NAMES[s] for s in shown) + " |"
    return "\n".join([head, "|" + "---|" * (len(shown) + 2)] + lines)


def ratio_table(rows: list[dict], measured_only: bool = False) -> str:
    lines = ["| target (issue #17) | ratio, median of rounds | per round | target | |",
             "|---|---|---|---|---|"]
    for r in rows:
        if r["value"] is None and (r["target"] is None or measured_only):
            continue
        tgt = f"{'≤' if r['target'][0] == '<=' else '≥'} {r['target'][1]:.2f}" if r["target"] else "—"
        verdict = {True: "met", False: "**missed**", None: "—" if r["target"] is None else
                   "not measured"}[r["met"]]
        per = ", ".join(f"{x:.3g}" for x in r["rounds"]) or "—"
        val = f"{r['value']:.3g}" if r["value"] is not None else "—"
        lines.append(f"| {r['label']} | {val} | {per} | {tgt} | {verdict} |")
    return "\n".join(lines) if len(lines) > 2 else ""


# ------------------------------------------------------------------------------ main


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Benchmark minirt against Ray and ProcessPoolExecutor (see the module docstring).")
    p.add_argument("--systems", default=None,
                   help="comma-separated subset of minirt,base,ray,ppe,pipe (default: "
                        "minirt,ray,ppe,pipe, plus base when --base-root is given)")
    p.add_argument("--rounds", type=int, default=3, help="rounds; the table shows medians (default 3)")
    p.add_argument("--quick", action="store_true",
                   help="fewer samples, coarser granularity grid, no 100,000-task figure")
    p.add_argument("--tiny", action="store_true",
                   help="tiny sizes for smoke tests (numbers not comparable with a real run)")
    p.add_argument("--many-tasks", type=int, default=None, metavar="N",
                   help="size of the 'tasks at once' figure (default 100,000; runs even with --quick)")
    p.add_argument("--million", type=int, default=None, metavar="N",
                   help="size of the first round's 'a million tasks at once' figure (default "
                        "1,000,000; 0 leaves it out; runs even with --quick when given)")
    p.add_argument("--only", default=None, metavar="LIST",
                   help="measure only these (comma-separated): " + ",".join(MEASUREMENTS)
                        + "; 'curves' stands for issue #17's new curves ("
                        + ",".join(NEW_CURVES) + ")")
    for opt, what in (("--nodes", "simulated nodes (default 1,4,16)"),
                      ("--actors", "live actors (default 10,100,1000; --quick 10,100)"),
                      ("--fanin", "refs fanned into one task (default 10000,100000; --quick 10000)"),
                      ("--pending-curve", "pending tasks of the driver-memory curve (default "
                                          "10000,100000,1000000; --quick 10000,100000)")):
        p.add_argument(opt, default=None, metavar="N,N,...", help="the curve's sizes: " + what)
    p.add_argument("--base-root", default=None, metavar="DIR",
                   help="another copy of minirt measured as the system 'base' (\"before\"), "
                        "e.g. today's main: git archive HEAD | tar -x -C DIR")
    p.add_argument("--report", metavar="JSON",
                   help="measure nothing: print the two Markdown tables (figures, ratios) of a "
                        "run saved with --json (how the README's tables are made)")
    p.add_argument("--load", type=int, default=0, metavar="N",
                   help="run N busy-looping processes during the whole run (a busy machine)")
    p.add_argument("--num-cpus", type=int, default=os.cpu_count() or 2,
                   help="num_cpus / max_workers for every figure but the scaling one "
                        "(default: os.cpu_count())")
    p.add_argument("--ray-python", default=DEFAULT_RAY_PYTHON if os.path.exists(DEFAULT_RAY_PYTHON)
                   else None, metavar="PATH",
                   help="Python interpreter that can import ray==2.60.0 "
                        f"(default {DEFAULT_RAY_PYTHON} if it exists; "
                        "create it with benchmarks/setup_ray_venv.sh)")
    p.add_argument("--minirt-root", default=ROOT, metavar="DIR",
                   help="folder holding the minirt package to measure (default: this checkout; "
                        "e.g. an exported older commit, to compare before/after a change)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds one system may take for one round (default 1200, --quick 400)")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                   help="before each system-round, wait up to this long for the machine to be "
                        "mostly idle (shared machines; default 0: don't wait)")
    p.add_argument("--quiet-threshold", type=float, default=0.25, metavar="SHARE",
                   help="'mostly idle' for --wait-quiet: CPU busy share over 1 s (default 0.25)")
    p.add_argument("--json", metavar="PATH", help="write every raw sample and the summary here")
    p.add_argument("--chart", metavar="PATH", help="write a Bokeh chart (standalone HTML) here")
    p.add_argument("--chart-width", type=int, default=460)
    p.add_argument("--chart-height", type=int, default=300)
    p.add_argument("--verbose", action="store_true", help="show each subprocess's output")
    a = p.parse_args(argv)
    if a.systems is None:
        a.systems = "minirt,base,ray,ppe,pipe" if a.base_root else "minirt,ray,ppe,pipe"
    a.systems = [s.strip() for s in a.systems.split(",") if s.strip()]
    bad = [s for s in a.systems if s not in ALL]
    if bad or not a.systems:
        p.error(f"unknown system(s) {bad}; choose from {','.join(ALL)}")
    if a.rounds < 1:
        p.error("--rounds must be at least 1")
    if a.only is not None:
        only = []
        for x in (y.strip() for y in a.only.split(",")):
            if x == "curves":
                only.extend(NEW_CURVES)
            elif x in MEASUREMENTS:
                only.append(x)
            elif x:
                p.error(f"--only: unknown measurement {x!r}; choose from curves,"
                        + ",".join(MEASUREMENTS))
        if not only:
            p.error("--only needs at least one measurement")
        a.only = only
    a.minirt_root = os.path.abspath(a.minirt_root)
    if not os.path.isfile(os.path.join(a.minirt_root, "minirt", "__init__.py")):
        p.error(f"--minirt-root {a.minirt_root}: no minirt/__init__.py there")
    if a.base_root is not None:
        a.base_root = os.path.abspath(a.base_root)
        if not os.path.isfile(os.path.join(a.base_root, "minirt", "__init__.py")):
            p.error(f"--base-root {a.base_root}: no minirt/__init__.py there")
    if "base" in a.systems and a.base_root is None:
        p.error("system 'base' needs --base-root DIR (a copy of minirt to compare with)")
    if a.load < 0:
        p.error("--load must be 0 or more")
    for key in ("nodes", "actors", "fanin", "pending_curve"):
        v = getattr(a, key)
        if v is not None:
            try:
                xs = [int(x) for x in v.split(",") if x.strip()]
            except ValueError:
                xs = []
            if not xs or min(xs) < 1 or xs != sorted(xs):
                p.error(f"--{key.replace('_', '-')}: give growing whole numbers >= 1, e.g. 1,4,16")
            setattr(a, key, xs)
    if a.timeout is None:
        a.timeout = 400.0 if (a.quick or a.tiny) else 1200.0
    return a


def reprint(path: str) -> int:
    """The README's tables, regenerated from a saved run (``--report JSON``)."""
    with open(path) as f:
        doc = json.load(f)
    cfg = doc["config"]
    systems = [s for s in ALL if any(r["system"] == s for r in doc["runs"])]
    text, _ = table(summarize(doc["runs"], systems, cfg), cfg, systems)
    print(text)
    print()
    rtext = ratio_table(ratios(doc["runs"], cfg), bool(cfg.get("only")))
    if rtext:
        print(rtext)
    ctext = curve_table(doc["runs"], systems)
    if ctext:
        print()
        print(ctext)
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.report:
        return reprint(args.report)
    cfg = make_config(args)
    started = datetime.datetime.now().astimezone()
    print(f"# minirt benchmark — {started:%Y-%m-%d %H:%M %Z}, {platform.node()}, "
          f"{os.cpu_count()} CPUs, load average {_load()}", flush=True)
    src = source_fingerprint(args.minirt_root)
    print(f"# minirt from {src['root']} (sources {src['sha256']}"
          + (f", commit {src['git_commit'][:8]}" if src.get("git_commit") else "")
          + (", with uncommitted changes" if src.get("uncommitted_changes") else "") + ")")
    if args.base_root:
        b = source_fingerprint(args.base_root)
        print(f"# before (base) from {b['root']} (sources {b['sha256']}"
              + (f", commit {b['git_commit'][:8]}" if b.get("git_commit") else "") + ")")
    print(f"# systems {','.join(args.systems)}, {args.rounds} round(s)"
          f"{', quick' if args.quick else ''}{', tiny' if args.tiny else ''}"
          f"{f', --load {args.load}' if args.load else ''}", flush=True)
    load = start_load(args.load)
    try:
        runs = run_rounds(args, cfg)
    finally:
        stop_load(load)
    return report(args, cfg, runs, started, src, argv)


def start_load(n: int) -> list:
    """N processes that busy-loop until stopped (``--load``)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def stop_load(procs: list) -> None:
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def run_rounds(args, cfg) -> list[dict]:
    runs, dead = [], set()
    for rnd in range(args.rounds):
        k = rnd % len(args.systems)
        order = args.systems[k:] + args.systems[:k]
        for s in order:
            if s in dead:
                continue
            t = time.perf_counter()
            r = run_one(s, rnd, cfg, args)
            runs.append(r)
            status = ("unavailable: " + r["unavailable"]) if "unavailable" in r else \
                     ("FAILED: " + r["fatal"]) if "fatal" in r else "ok"
            errs = {k2: v for k2, v in r.get("errors", {}).items() if v != "skipped"}
            if errs:
                status += f" (errors in {', '.join(errs)})"
            busy = r.get("machine_busy_before")
            print(f"# round {rnd + 1}/{args.rounds} {NAMES[s]:6s} {time.perf_counter() - t:6.1f} s, "
                  f"load {_fmt_load(r.get('loadavg_start'))} -> {_fmt_load(r.get('loadavg_end'))}"
                  + (f", busy before {busy:.0%}" if busy is not None else "")
                  + (f", 2 probes got {r['cores_available_before']:.2f} -> "
                     f"{r['cores_available_after']:.2f} cores"
                     if r.get("cores_available_after") is not None else "")
                  + (f", others used {r['others_cores_round']:.2f} cores meanwhile"
                     if r.get("others_cores_round") is not None else "") + f": {status}",
                  flush=True)
            if "unavailable" in r or ("fatal" in r and not r.get("figures")):
                dead.add(s)       # it cannot import or start: don't retry every round
    return runs


def report(args, cfg, runs, started, src, argv) -> int:
    summary = summarize(runs, args.systems, cfg)
    text, rows = table(summary, cfg, args.systems)
    rat = ratios(runs, cfg)
    rtext = ratio_table(rat, bool(cfg.get("only")))
    ctext = curve_table(runs, args.systems)
    versions = {r["system"]: r.get("version") for r in runs if r.get("version")}
    print()
    print(text)
    print()
    print("Medians over rounds. Ratios are minirt's value / the other's: below 1 is better for "
          "times, above 1 for rates. PPE = concurrent.futures.ProcessPoolExecutor.")
    print("Versions: " + "; ".join(f"{NAMES[s]} {v}" for s, v in versions.items()))
    if rtext:
        print()
        print(rtext)
    if ctext:
        print()
        print(ctext)
    loads = [r["loadavg_start"][0] for r in runs if r.get("loadavg_start")]
    ncpu = os.cpu_count() or 1
    if loads and max(loads) >= ncpu:
        print(f"Noise: the 1-minute load average was {min(loads):.1f}-{max(loads):.1f} at the start "
              f"of the runs on {ncpu} CPUs (other people's work, plus the previous run's tail): "
              "parallel figures (granularity, scaling) suffer most.")
    for r in runs:
        if "fatal" in r or "unavailable" in r:
            print(f"\n## {NAMES[r['system']]} round {r['round'] + 1}: "
                  f"{r.get('fatal') or r.get('unavailable')}")
            if r.get("log_tail"):
                print(r["log_tail"][-1500:])
    doc = {"meta": {"started": started.isoformat(), "host": platform.node(),
                    "minirt_source": src,
                    "cpu_count": os.cpu_count(), "python": sys.version.split()[0],
                    "argv": sys.argv[1:] if argv is None else argv, "versions": versions,
                    "ray_python": args.ray_python, "loadavg_end": _load(),
                    "base_source": source_fingerprint(args.base_root) if args.base_root else None,
                    "load": args.load},
           "config": cfg, "summary": summary, "table": rows, "table_markdown": text,
           "ratios": rat, "ratios_markdown": rtext, "curves_markdown": ctext, "runs": runs}
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(doc, f)
        print(f"\nJSON: {args.json}")
    if args.chart:
        from chart import write_chart
        write_chart(doc, args.chart, args.chart_width, args.chart_height)
        print(f"Chart: {args.chart}")
    return 0 if all("fatal" not in r for r in runs if r["system"] == "minirt") else 1


def source_fingerprint(root: str) -> dict:
    """Which minirt was measured: its folder, a hash of its sources, the git commit."""
    import glob
    import hashlib
    h = hashlib.sha256()
    for p in sorted(glob.glob(os.path.join(root, "minirt", "**", "*.py"), recursive=True)):
        h.update(os.path.relpath(p, root).encode())
        with open(p, "rb") as f:
            h.update(f.read())
    out = {"root": root, "sha256": h.hexdigest()[:16]}
    stamp = os.path.join(root, "COMMIT")     # an exported tree: `git rev-parse HEAD > COMMIT`
    if os.path.isfile(stamp):
        with open(stamp) as f:
            out["git_commit"] = f.read().strip() or None
    elif os.path.exists(os.path.join(root, ".git")):      # a directory, or a worktree's file
        try:
            out["git_commit"] = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"],
                                               capture_output=True, text=True,
                                               timeout=10).stdout.strip() or None
            out["uncommitted_changes"] = bool(subprocess.run(
                ["git", "-C", root, "status", "--porcelain", "minirt"], capture_output=True,
                text=True, timeout=10).stdout.strip())
        except (OSError, subprocess.TimeoutExpired):
            pass
    return out


def _load():
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _fmt_load(x):
    return f"{x[0]:.2f}" if x else "?"


if __name__ == "__main__":
    sys.exit(main())
