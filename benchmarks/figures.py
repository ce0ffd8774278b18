"""What the benchmark reports: each figure's key, label, unit, direction and target.

Shared by ``bench.py`` (the table, the chart) and ``tests/test_bench.py`` (every
figure must come back with a number). Targets are for a 2-core machine.
"""

from __future__ import annotations

from dataclasses import dataclass

ALL = ("minirt", "ray", "ppe")
RT = ("minirt", "ray")          # figures the process pool has no counterpart for
NAMES = {"minirt": "minirt", "ray": "Ray", "ppe": "PPE"}


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
    return dict(big_mb=f"{cfg['big_bytes'] / 1e6:g}", n_tasks=f"{cfg['n_tasks']:,}",
                n_many=f"{cfg['n_many']:,}", n_pending=f"{cfg['n_pending']:,}",
                trials=cfg["trials"], grid_max=f"{max(cfg['grid']):,}")


FIGURES = [
    Figure("import_s", "import the package", "s", "lower"),
    Figure("init_first_s", "init -> first result", "s", "lower", ("<=", 0.3)),
    Figure("shutdown_s", "shutdown", "s", "lower", ("<=", 0.3)),
    Figure("sync_task_us", "one sync task round trip", "us", "lower", ("<=", 150)),
    Figure("tasks_per_s", "{n_tasks} no-op tasks", "tasks/s", "higher", (">=", 12000)),
    Figure("granularity_crossover_n", "granularity crossover, {trials} trials", "array size n",
           "lower", ("<=", 30000)),
    Figure("put_big_ms", "put {big_mb} MB array", "ms", "lower", systems=RT),
    Figure("get_big_ms", "get {big_mb} MB array", "ms", "lower", ("<=", 1), systems=RT),
    Figure("task_big_ref_ms", "task on a {big_mb} MB ref", "ms", "lower", ("<=", 3), systems=RT),
    Figure("actor_sync_us", "actor sync call", "us", "lower", ("<=", 120), systems=RT),
    Figure("actor_calls_per_s", "{n_tasks} async actor calls", "calls/s", "higher",
           (">=", 12000), systems=RT),
    Figure("many_tasks_s", "{n_many} tasks at once", "s", "lower", ("<=", 15), systems=RT,
           quick_skips=True),
    Figure("pending_task_bytes", "driver memory per pending task ({n_pending} pending)", "bytes",
           "lower"),
] + [
    Figure(f"scaling_{k}cpu_per_s", f"{{n_tasks}} no-op tasks, num_cpus={k}", "tasks/s", "higher")
    for k in (1, 2, 4, 8)
]

BY_KEY = {f.key: f for f in FIGURES}


def expected(system: str, cfg: dict) -> list[Figure]:
    """The figures a run with this config reports for this system."""
    out = []
    for f in FIGURES:
        if system not in f.systems:
            continue
        if f.key.startswith("scaling_") and int(f.key.split("_")[1][:-3]) not in cfg["scaling"]:
            continue
        if f.key in cfg.get("skip", []):
            continue
        out.append(f)
    return out


def crossover(grid, local, remote):
    """Smallest n from which remote stays faster than local for every larger n (or None)."""
    best = None
    for n, lo, re in reversed(list(zip(grid, local, remote))):
        if re < lo:
            best = n
        else:
            break
    return best
