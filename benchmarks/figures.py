"""What the benchmark reports: each figure's key, label, unit, direction and target.

Shared by ``bench.py`` (the table, the chart) and ``tests/test_bench.py`` (every
figure must come back with a number). Targets are for a 2-core machine.
"""

from __future__ import annotations

from dataclasses import dataclass

ALL = ("minirt", "base", "ray", "ppe", "pipe")
RT = ("minirt", "base", "ray")  # figures the process pool and the pipe have no counterpart for
NOPIPE = ("minirt", "base", "ray", "ppe")
#: base = another copy of minirt (``--base-root``, e.g. today's main, exported);
#: pipe = the floor: a raw pipe echo between the driver and worker processes.
NAMES = {"minirt": "minirt", "base": "before", "ray": "Ray", "ppe": "PPE", "pipe": "pipe"}
DURATIONS_US = (50, 200, 1000, 5000)   # the task-duration curve: busy tasks of this length


@dataclass(frozen=True)
class Figure:
    key: str
    label: str           # may use {big_mb}, {n_tasks}, {n_many}, {n_pending}, {trials}
    unit: str
    better: str          # "lower" or "higher"
    target: tuple | None = None   # ("<=", 0.3) or (">=", 12000)
    systems: tuple = ALL
    quick_skips: bool = False     # --quick leaves it out unless asked for explicitly

    def title(self, cfg: dict) -> str:
        return self.label.format(**label_sizes(cfg)) + f" ({self.unit})"

    def met(self, value) -> bool | None:
        if self.target is None or value is None:
            return None
        op, bound = self.target
        return value <= bound if op == "<=" else value >= bound


def label_sizes(cfg: dict) -> dict:
    def top(key):
        xs = cfg.get(key) or [0]
        return f"{max(xs):,}"
    return dict(big_mb=f"{cfg['big_bytes'] / 1e6:g}", n_tasks=f"{cfg['n_tasks']:,}",
                n_many=f"{cfg['n_many']:,}", n_pending=f"{cfg['n_pending']:,}",
                trials=cfg["trials"], grid_max=f"{max(cfg['grid']):,}",
                n_million=f"{cfg.get('n_million', 0):,}", num_cpus=cfg.get("num_cpus"),
                nodes_max=top("nodes"), node_cpus=cfg.get("node_cpus", 2),
                actors_max=top("actors"), fanin_max=top("fanin"),
                pending_max=top("pending_curve"))


FIGURES = [
    Figure("import_s", "import the package", "s", "lower", systems=NOPIPE),
    Figure("init_first_s", "init -> first result", "s", "lower", ("<=", 0.3), systems=NOPIPE),
    Figure("shutdown_s", "shutdown", "s", "lower", ("<=", 0.3), systems=NOPIPE),
    Figure("sync_task_us", "one sync task round trip", "us", "lower", ("<=", 150)),
    Figure("tasks_per_s", "{n_tasks} no-op tasks", "tasks/s", "higher", (">=", 12000)),
    Figure("granularity_crossover_n", "granularity crossover, {trials} trials", "array size n",
           "lower", ("<=", 30000), systems=NOPIPE),
    Figure("put_big_ms", "put {big_mb} MB array", "ms", "lower", systems=RT),
    Figure("get_big_ms", "get {big_mb} MB array", "ms", "lower", ("<=", 1), systems=RT),
    Figure("task_big_ref_ms", "task on a {big_mb} MB ref", "ms", "lower", ("<=", 3), systems=RT),
    Figure("actor_sync_us", "actor sync call", "us", "lower", ("<=", 120), systems=RT),
    Figure("actor_calls_per_s", "{n_tasks} async actor calls", "calls/s", "higher",
           (">=", 12000), systems=RT),
    Figure("many_tasks_s", "{n_many} tasks at once", "s", "lower", ("<=", 15), systems=RT,
           quick_skips=True),
    Figure("pending_task_bytes", "driver memory per pending task ({n_pending} pending)", "bytes",
           "lower", systems=NOPIPE),
    Figure("million_tasks_s", "{n_million} tasks at once", "s", "lower", systems=RT,
           quick_skips=True),
    Figure("million_bytes_per_task", "{n_million} at once: driver memory per pending task",
           "bytes", "lower", ("<=", 1000), systems=RT, quick_skips=True),
    Figure("million_retained_mb", "{n_million} at once: driver memory kept once done", "MB",
           "lower", systems=RT, quick_skips=True),
] + [
    Figure(f"scaling_{k}cpu_per_s", f"{{n_tasks}} no-op tasks, num_cpus={k}", "tasks/s", "higher")
    for k in (1, 2, 4, 8)
] + [
    Figure(f"duration_{d}us_per_s", f"tasks of {d} µs busy work, num_cpus={{num_cpus}}",
           "tasks/s", "higher") for d in DURATIONS_US
] + [
    # The scaling curves of issue #17. Each is one figure holding every point of its curve
    # (``x``, ``y``, the samples); its value is the curve's last point (the largest size).
    Figure("nodes_curve", "{n_tasks} no-op tasks on {nodes_max} simulated nodes of "
           "{node_cpus} CPUs", "tasks/s", "higher", systems=("minirt", "base")),
    Figure("actors_curve", "{n_tasks} actor calls round-robin over {actors_max} live actors",
           "calls/s", "higher", systems=("minirt", "base")),
    Figure("actors_tasks_curve", "{n_tasks} no-op tasks while {actors_max} actors live",
           "tasks/s", "higher", systems=("minirt", "base")),
    Figure("fanin_args_s", "one task over {fanin_max} refs as arguments: submit + get", "s",
           "lower", systems=RT),
    Figure("fanin_list_s", "one task over a list of {fanin_max} refs, get inside: submit + get",
           "s", "lower", systems=RT),
    Figure("pending_curve_bytes", "driver memory per pending task ({pending_max} pending)",
           "bytes", "lower", systems=NOPIPE),
]

#: Curves: figure key -> (config key with the x values, the curve's name in the curve table).
#: ``expected`` leaves a curve out when its config key is missing or empty (an older run).
CURVES = {"nodes_curve": ("nodes", "no-op tasks/s on n simulated nodes"),
          "actors_curve": ("actors", "actor calls/s, round robin over n live actors"),
          "actors_tasks_curve": ("actors", "no-op tasks/s while n actors live"),
          "fanin_args_s": ("fanin", "s: one task over n refs as arguments, submit + get"),
          "fanin_list_s": ("fanin", "s: one task over a list of n refs (get inside), submit + get"),
          "pending_curve_bytes": ("pending_curve", "driver bytes per pending task, n pending")}


def curve_points(runs: list, key: str, system: str, field: str = "y") -> list:
    """[(x, median over the rounds of ``field`` at x)] of one system's curve figure."""
    import statistics
    per = {}
    for r in runs:
        e = r.get("figures", {}).get(key) if r["system"] == system else None
        if not e or field not in e:
            continue
        for x, y in zip(e["x"], e[field]):
            if y is not None:
                per.setdefault(x, []).append(y)
    return sorted((x, statistics.median(ys)) for x, ys in per.items())

#: One measurement (``measure.Round.attempt``'s key, what ``--only`` and the config's
#: ``skip`` name) -> the figures it reports, where they differ from the key itself.
GROUPS = {"put_get_big": ("put_big_ms", "get_big_ms"),
          "actor": ("actor_sync_us", "actor_calls_per_s"),
          "granularity": ("granularity_crossover_n",),
          "scaling": tuple(f"scaling_{k}cpu_per_s" for k in (1, 2, 4, 8)),
          "durations": tuple(f"duration_{d}us_per_s" for d in DURATIONS_US),
          "million_tasks_s": ("million_tasks_s", "million_bytes_per_task", "million_retained_mb"),
          "actors_curve": ("actors_curve", "actors_tasks_curve"),
          "fanin": ("fanin_args_s", "fanin_list_s")}
#: Every measurement of a round, in the order ``measure.Round.run`` makes them.
MEASUREMENTS = ("init_first_s", "sync_task_us", "tasks_per_s", "granularity", "put_get_big",
                "task_big_ref_ms", "actor", "pending_task_bytes", "durations", "shutdown_s",
                "many_tasks_s", "million_tasks_s", "scaling", "nodes_curve", "actors_curve",
                "fanin", "pending_curve_bytes")
#: The new curves (``bench.py --only curves``).
NEW_CURVES = ("nodes_curve", "actors_curve", "fanin", "pending_curve_bytes")


def group_of(key: str) -> str:
    """The measurement that reports figure ``key``."""
    for g, keys in GROUPS.items():
        if key in keys:
            return g
    return key

BY_KEY = {f.key: f for f in FIGURES}


def expected(system: str, cfg: dict) -> list[Figure]:
    """The figures a run with this config reports for this system."""
    out = []
    for f in FIGURES:
        if system not in f.systems:
            continue
        if f.key.startswith("scaling_") and int(f.key.split("_")[1][:-3]) not in cfg["scaling"]:
            continue
        if f.key in cfg.get("skip", []) or group_of(f.key) in cfg.get("skip", []):
            continue
        if f.key in CURVES and not cfg.get(CURVES[f.key][0]):
            continue
        if f.key.startswith("duration_") and int(f.key.split("_")[1][:-2]) not in \
                cfg.get("durations_us", DURATIONS_US):
            continue
        out.append(f)
    return out


@dataclass(frozen=True)
class Ratio:
    """One target of issue #17: a ratio of two systems' figures measured in the same rounds.

    The value is ``num / den`` where each side is ``(system, figure key)``; it is
    taken per round (both sides measured in that round, A B A B) and the median
    over rounds is reported. ``target`` is ("<=", x) or (">=", x); None: shown only.
    """
    key: str
    label: str
    num: tuple
    den: tuple
    target: tuple | None = None

    def met(self, value) -> bool | None:
        if self.target is None or value is None:
            return None
        op, bound = self.target
        return value <= bound if op == "<=" else value >= bound


RATIOS = [
    Ratio("rate_vs_ppe", "{n_tasks} no-op tasks: rate / PPE's", ("minirt", "tasks_per_s"),
          ("ppe", "tasks_per_s"), (">=", 4)),
    Ratio("rate_vs_base", "{n_tasks} no-op tasks: rate / before", ("minirt", "tasks_per_s"),
          ("base", "tasks_per_s"), (">=", 4)),
    Ratio("rate_vs_pipe", "{n_tasks} no-op tasks: rate / batched pipe echo",
          ("minirt", "tasks_per_s"), ("pipe", "tasks_per_s")),
    Ratio("many_vs_base", "{n_many} tasks at once: speed-up over before (time before / now)",
          ("base", "many_tasks_s"), ("minirt", "many_tasks_s"), (">=", 4)),
    Ratio("crossover_vs_base", "granularity crossover / before",
          ("minirt", "granularity_crossover_n"), ("base", "granularity_crossover_n"),
          ("<=", 1 / 3)),
    Ratio("actor_rate_vs_base", "{n_tasks} async actor calls: rate / before",
          ("minirt", "actor_calls_per_s"), ("base", "actor_calls_per_s"), (">=", 4)),
    Ratio("sync_vs_ppe", "one sync task: round trip / PPE's", ("minirt", "sync_task_us"),
          ("ppe", "sync_task_us"), ("<=", 1.0)),
    Ratio("sync_vs_pipe", "one sync task: round trip / pipe echo", ("minirt", "sync_task_us"),
          ("pipe", "sync_task_us"), ("<=", 1.3)),
    Ratio("actor_vs_ppe", "one sync actor call: round trip / PPE task's",
          ("minirt", "actor_sync_us"), ("ppe", "sync_task_us"), ("<=", 1.0)),
    Ratio("actor_vs_pipe", "one sync actor call: round trip / pipe echo",
          ("minirt", "actor_sync_us"), ("pipe", "sync_task_us"), ("<=", 1.3)),
    Ratio("init_vs_base", "init -> first result / before", ("minirt", "init_first_s"),
          ("base", "init_first_s"), ("<=", 1.0)),
    Ratio("shutdown_vs_base", "shutdown / before", ("minirt", "shutdown_s"),
          ("base", "shutdown_s"), ("<=", 1.0)),
]


def crossover(grid, local, remote):
    """Smallest n from which remote stays faster than local for every larger n (or None)."""
    best = None
    for n, lo, re in reversed(list(zip(grid, local, remote))):
        if re < lo:
            best = n
        else:
            break
    return best
