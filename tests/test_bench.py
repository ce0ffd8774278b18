"""Smoke test of benchmarks/bench.py: it runs, and reports every figure for minirt.

Tiny sizes and one round, minirt only. No timing is asserted (timings never go in
unit tests here): only that each figure came back as a number.
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
           "--systems", "minirt", "--rounds", "1", "--many-tasks", "300",
           "--timeout", "100", "--json", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out) as f:
        return json.load(f), proc.stdout


def test_every_figure_has_a_number(report):
    doc, _ = report
    sys.path.insert(0, BENCH)
    try:
        from figures import expected
    finally:
        sys.path.remove(BENCH)
    figures = expected("minirt", doc["config"])
    assert {f.key for f in figures} >= {"init_first_s", "sync_task_us", "tasks_per_s",
                                        "many_tasks_s", "scaling_8cpu_per_s"}
    (run,) = doc["runs"]
    assert "fatal" not in run, run.get("fatal")
    assert not run["errors"], run["errors"]
    for f in figures:
        entry = doc["summary"][f.key]["minirt"]
        if f.key == "granularity_crossover_n":
            # With tiny sizes remote may never win; the curve itself must be all numbers.
            assert entry["value"] is None or _number(entry["value"]), entry
            assert entry["grid"] and len(entry["local_s"]) == len(entry["remote_s"]) == len(entry["grid"])
            assert all(_number(x) for x in entry["local_s"] + entry["remote_s"])
        else:
            assert _number(entry["value"]), f"{f.key}: {entry}"
            assert _number(run["figures"][f.key]["value"])


def test_raw_samples_and_table(report):
    doc, stdout = report
    run = doc["runs"][0]
    assert len(run["figures"]["sync_task_us"]["samples"]) == doc["config"]["sync_samples"]
    assert all(_number(x) for x in run["figures"]["actor_sync_us"]["samples"])
    assert "| figure | minirt | Ray | PPE |" in stdout
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
