"""Smoke test of benchmarks/bench.py: it runs, and reports every figure for each system.

Tiny sizes and one round: minirt, "before" (``--base-root``, here this same checkout),
PPE and the pipe echo. No timing is asserted (timings never go in unit tests here):
only that each figure, each ratio of issue #17 and each curve came back, as numbers.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks")


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "out.json"
    cmd = [sys.executable, os.path.join(BENCH, "bench.py"), "--quick", "--tiny",
           "--systems", "minirt,base,ppe,pipe", "--base-root", ROOT, "--rounds", "1",
           "--many-tasks", "300", "--million", "1000", "--timeout", "100", "--json", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out) as f:
        return json.load(f), proc.stdout


def _bench_module(name):
    sys.path.insert(0, BENCH)
    try:
        return __import__(name)
    finally:
        sys.path.remove(BENCH)


@pytest.mark.parametrize("system", ["minirt", "base", "ppe", "pipe"])
def test_every_figure_has_a_number(report, system):
    doc, _ = report
    figures = _bench_module("figures").expected(system, doc["config"])
    if system in ("minirt", "base"):
        assert {f.key for f in figures} >= {
            "init_first_s", "sync_task_us", "tasks_per_s", "many_tasks_s", "scaling_8cpu_per_s",
            "million_tasks_s", "million_bytes_per_task", "million_retained_mb",
            "duration_200us_per_s", "duration_5000us_per_s", "nodes_curve", "actors_curve",
            "actors_tasks_curve", "fanin_args_s", "fanin_list_s", "pending_curve_bytes"}
    if system == "ppe":
        assert "pending_curve_bytes" in {f.key for f in figures}
    if system == "pipe":
        assert {f.key for f in figures} == {"sync_task_us", "tasks_per_s", "duration_200us_per_s",
                                            "duration_5000us_per_s"} | {
            f"scaling_{k}cpu_per_s" for k in (1, 2, 4, 8)}
    (run,) = [r for r in doc["runs"] if r["system"] == system]
    assert "fatal" not in run, run.get("fatal")
    assert not run["errors"], run["errors"]
    for f in figures:
        entry = doc["summary"][f.key][system]
        if f.key == "granularity_crossover_n":
            # With tiny sizes remote may never win; the curve itself must be all numbers.
            assert entry["value"] is None or _number(entry["value"]), entry
            assert entry["grid"] and len(entry["local_s"]) == len(entry["remote_s"]) == len(entry["grid"])
            assert all(_number(x) for x in entry["local_s"] + entry["remote_s"])
        else:
            assert _number(entry["value"]), f"{f.key}: {entry}"
            assert _number(run["figures"][f.key]["value"])


def test_base_is_measured_from_base_root(report):
    doc, _ = report
    base = [r for r in doc["runs"] if r["system"] == "base"][0]
    assert base["module_file"] == os.path.join(ROOT, "minirt", "__init__.py")
    assert doc["meta"]["base_source"]["root"] == ROOT


def test_million_tasks_and_durations_are_sane(report):
    doc, _ = report
    run = [r for r in doc["runs"] if r["system"] == "minirt"][0]
    m = run["figures"]["million_tasks_s"]
    assert m["n"] == 1000 and m["value"] > 0 and 0 < m["submit_s"] <= m["value"]
    assert all(m[k] > 0 for k in ("rss_start", "rss_submitted", "rss_all_done", "rss_after_drop"))
    for d in doc["config"]["durations_us"]:
        e = run["figures"][f"duration_{d}us_per_s"]
        # A rate cannot beat num_cpus / duration (a little slack for the clock).
        assert 0 < e["value"] <= 1.2 * e["ideal"], e
        assert 0 < e["efficiency"] <= 1.2


def test_ratios_of_the_issue(report):
    doc, stdout = report
    by_key = {r["key"]: r for r in doc["ratios"]}
    figures = _bench_module("figures")
    assert set(by_key) == {r.key for r in figures.RATIOS}
    # Every side was measured in the one round: every ratio is a positive number.
    for key, r in by_key.items():
        assert _number(r["value"]) and r["value"] > 0, r
        assert r["rounds"] == [r["value"]]
        assert r["met"] in (True, False, None)
    assert "| target (issue #17) |" in stdout
    assert "rate / batched pipe echo" in doc["ratios_markdown"]


def test_raw_samples_and_table(report):
    doc, stdout = report
    run = [r for r in doc["runs"] if r["system"] == "minirt"][0]
    assert len(run["figures"]["sync_task_us"]["samples"]) == doc["config"]["sync_samples"]
    assert all(_number(x) for x in run["figures"]["actor_sync_us"]["samples"])
    assert "| figure | minirt | before | PPE | pipe |" in stdout
    assert doc["table"] and all(row["key"] for row in doc["table"])


def test_unavailable_system_is_reported_not_fatal(tmp_path):
    out = tmp_path / "out.json"
    cmd = [sys.executable, os.path.join(BENCH, "bench.py"), "--tiny", "--quick",
           "--systems", "ray", "--rounds", "1", "--ray-python", str(tmp_path / "no-python"),
           "--json", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    assert "unavailable" in doc["runs"][0]
    assert doc["summary"]["sync_task_us"]["ray"]["status"] == "unavailable"


def test_chart(report, tmp_path):
    pytest.importorskip("bokeh")
    doc, _ = report
    sys.path.insert(0, BENCH)
    try:
        from chart import write_chart
    finally:
        sys.path.remove(BENCH)
    path = tmp_path / "chart.html"
    write_chart(doc, str(path), 300, 200)
    html = path.read_text()
    assert "Bokeh" in html and "<script" in html


def test_scaling_curves(report, tmp_path):
    pytest.importorskip("bokeh")
    pytest.importorskip("matplotlib")
    doc, _ = report
    curves = _bench_module("curves")
    data = curves.series(doc)
    assert [x for x, _ in data["cpus"]["minirt"]] == doc["config"]["scaling"]
    assert [x for x, _ in data["duration"]["pipe"]] == doc["config"]["durations_us"]
    assert [x for x, _ in data["pending"]["minirt"]] == [100, 300, 1000]
    assert "pipe" not in data["pending"]
    cfg = doc["config"]
    assert [x for x, _ in data["nodes"][("minirt", "nodes_curve")]] == cfg["nodes"]
    assert [x for x, _ in data["actors"][("base", "actors_tasks_curve")]] == cfg["actors"]
    assert [x for x, _ in data["fanin"][("minirt", "fanin_list_s")]] == cfg["fanin"]
    assert [x for x, _ in data["memory"][("ppe", "pending_curve_bytes")]] == cfg["pending_curve"]
    assert ("pipe", "pending_curve_bytes") not in data["memory"]
    new = ["nodes", "actors", "fanin", "memory"]
    figs = curves.charts(doc, 400, 250)
    assert [k for k, _ in figs] == ["cpus", "duration", "pending"] + new
    assert all(p.width == 400 and p.height == 250 for _, p in figs)
    written = curves.write(doc, str(tmp_path / "c.html"), str(tmp_path / "c"), 400, 250)
    assert "Bokeh" in (tmp_path / "c.html").read_text()
    for key in ["cpus", "duration", "pending"] + new:
        png = tmp_path / f"c-{key}.png"
        assert str(png) in written and png.read_bytes()[:4] == b"\x89PNG"


def test_scaling_curves_of_issue_17(report):
    """Nodes, live actors, fan-in and pending memory: every point measured, and sane."""
    doc, stdout = report
    cfg = doc["config"]
    for system in ("minirt", "base"):
        figs = [r for r in doc["runs"] if r["system"] == system][0]["figures"]
        nodes = figs["nodes_curve"]
        assert nodes["x"] == cfg["nodes"] and all(y > 0 for y in nodes["y"])
        assert len(nodes["samples"]) == len(cfg["nodes"]) * cfg["reps"]
        # Tasks ran on more CPUs than one node has: the simulated nodes were used.
        assert nodes["workers_used"][0] <= cfg["node_cpus"] < nodes["workers_used"][-1]
        actors = figs["actors_curve"]
        assert actors["x"] == figs["actors_tasks_curve"]["x"] == cfg["actors"]
        assert all(y > 0 for y in actors["y"] + figs["actors_tasks_curve"]["y"])
        # Each actor is a process of its own, measured: a few MB private, tens of MB resident.
        assert all(0 < p < r for p, r in zip(actors["worker_private"], actors["worker_rss"]))
        assert actors["driver_fds"][-1] > actors["driver_fds"][0]
        for key in ("fanin_args_s", "fanin_list_s"):
            e = figs[key]
            assert e["x"] == cfg["fanin"]
            assert all(0 < sub <= tot for sub, tot in zip(e["submit_s"], e["y"]))
        mem = figs["pending_curve_bytes"]
        assert mem["x"] == cfg["pending_curve"] and all(r > 0 for r in mem["rss"])
        assert all(rate > 0 for rate in mem["submit_per_s"]) and mem["abandon_s"] >= 0
    assert "| curve | n |" in stdout and "no-op tasks/s on n simulated nodes" in stdout
    assert "| curve | n |" in doc["curves_markdown"]


def test_only_measures_what_it_names(tmp_path):
    out = tmp_path / "out.json"
    cmd = [sys.executable, os.path.join(BENCH, "bench.py"), "--tiny", "--quick", "--systems",
           "minirt", "--rounds", "1", "--only", "fanin", "--fanin", "50,70", "--json", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=100)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    (run,) = doc["runs"]
    assert set(run["figures"]) == {"import_s", "fanin_args_s", "fanin_list_s"}
    assert run["figures"]["fanin_args_s"]["x"] == [50, 70]
    assert all(v == "skipped" for v in run["errors"].values()) and "scaling" in run["errors"]
    assert "| target (issue #17) |" not in proc.stdout     # no ratio was measured
    shown = [row["key"] for row in doc["table"]]
    assert shown == ["import_s", "fanin_args_s", "fanin_list_s"]


def test_load_processes_are_stopped():
    bench = _bench_module("bench")
    procs = bench.start_load(1)
    assert procs[0].poll() is None      # busy-looping
    bench.stop_load(procs)
    assert procs[0].returncode is not None


def test_report_reprints_the_tables_from_json(report, tmp_path):
    doc, stdout = report
    path = tmp_path / "run.json"
    path.write_text(json.dumps(doc))
    proc = subprocess.run([sys.executable, os.path.join(BENCH, "bench.py"), "--report", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert doc["table_markdown"] in proc.stdout and doc["ratios_markdown"] in proc.stdout


def test_feature_cost_measures_both_sides_and_list_tasks(tmp_path):
    """benchmarks/feature_cost.py: each side of the memory-monitor A/B really had the
    monitor on or off, and list_tasks found the finished tasks (tiny sizes)."""
    out = tmp_path / "cost.json"
    cmd = [sys.executable, os.path.join(BENCH, "feature_cost.py"), "--rounds", "1", "--reps", "1",
           "--tasks", "50", "--finished", "300", "--json", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=100)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    summary = doc["monitor_summary"]
    assert summary["monitor on"]["monitor_thread"] == [True]
    assert summary["monitor off"]["monitor_thread"] == [False]
    assert all(_number(s["tasks_per_s"]) and _number(s["driver_cpu_us"]) for s in summary.values())
    listing = doc["list_tasks"]
    assert listing["list_tasks()"]["records"] == 100       # Ray's default limit
    assert listing["list_tasks(limit=100_000)"]["records"] >= 300
    assert all(_number(r["best_s"]) for r in listing.values())
    bad = subprocess.run([sys.executable, os.path.join(BENCH, "feature_cost.py"), "--rounds", "0"],
                         cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "must be 1 or more" in bad.stderr
