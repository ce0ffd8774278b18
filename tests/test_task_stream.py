"""minirt.util.TaskStream, the live task view, and the head snapshots it reads (issue #14)."""

from __future__ import annotations

import re
import time

import pytest

import minirt
from minirt.util import _introspect
from minirt.util import TaskStream

from tests.conftest import wait_until


@minirt.remote
def work(delay):
    time.sleep(delay)
    return delay


@minirt.remote
def fail():
    raise ValueError("bad input")


@minirt.remote
class Keeper:
    def ping(self):
        return "pong"


def test_counts_lanes_and_bars_follow_the_work(rt):
    view = TaskStream(window=10)
    assert view.counts() == dict(pending=0, running=0, finished=0, failed=0)
    refs = [work.remote(0.4) for _ in range(6)]          # 4 CPUs: 4 run, 2 wait
    assert wait_until(lambda: view.update() is not None and view.counts()["running"] == 4, 5.0)
    c = view.counts()
    assert c["pending"] == 2 and c["finished"] == 0
    running = view._st.running
    assert {name for _, name, _ in running} == {"work"}
    assert all(0 <= t0 <= view._st.now for _, _, t0 in running)
    minirt.get(refs)
    bad = fail.remote()
    minirt.wait([bad])
    assert wait_until(lambda: view.update() is not None and view.counts()["failed"] == 1, 5.0)
    c = view.counts()
    assert c == dict(pending=0, running=0, finished=6, failed=1)
    # One lane per worker, grouped by node; a finished bar per task (sleeps never merge).
    lanes = view._st.lanes
    assert len(lanes) >= 4 and all(node == "node 0" for node, _ in lanes)
    work_bars = [b for b in view._st.bars if b[1] == "work"]
    assert len(work_bars) == 6
    assert all(0.35 < t1 - t0 < 5.0 for _, _, t0, t1 in work_bars)
    assert "6 finished, 1 failed" in repr(view)


def test_tiny_tasks_on_one_worker_merge_into_few_bars(rt):
    view = TaskStream(window=30)

    @minirt.remote
    def tiny(i):
        return i

    minirt.get([tiny.remote(i) for i in range(1000)])
    assert wait_until(lambda: view.update() is not None and view.counts()["finished"] >= 1000, 5.0)
    bars = [b for b in view._st.bars if b[1] == "tiny"]
    assert 1 <= len(bars) < 500          # merged runs, not one bar per task


def test_actors_store_and_nodes_are_shown(rt):
    import numpy as np
    view = TaskStream()
    k = Keeper.options(name="keeper").remote()
    assert minirt.get(k.ping.remote()) == "pong"
    big = minirt.put(np.zeros(1_000_000))
    view.update()
    text = view.summary()
    assert "keeper ALIVE on node 0" in text
    m = re.search(r"object store (\S+) (\S+) of", text)
    assert m and m.group(2) == "MiB" and float(m.group(1)) >= 7.5
    assert any("Keeper" in label for _, label in view._st.lanes)
    minirt.kill(k)
    assert wait_until(lambda: view.update() is not None and "keeper DEAD" in view.summary(), 5.0)
    del big


def test_snapshot_html_is_static_and_has_the_bars(rt):
    view = TaskStream()
    minirt.get([work.remote(0.05) for _ in range(3)])
    view.update()
    page = view.snapshot_html()
    assert "<script" not in page
    assert page.count("<rect") >= 3 and "<title>work</title>" in page
    assert "3 </b>" not in page and "<b>3</b> finished" in page


def test_idle_view_does_no_work_and_survives_shutdown(rt):
    view = TaskStream()
    minirt.get(work.remote(0))
    assert view.update() is True
    assert view.update() is False             # nothing new: nothing done
    minirt.shutdown()
    assert view.update() is False
    assert "TaskStream" in repr(view)         # still shows the last state
    minirt.init(num_cpus=2)
    minirt.get(work.remote(0))
    assert wait_until(lambda: view.update() is not None and view.counts()["finished"] == 1, 5.0)


def test_bokeh_models_update_from_the_thread(rt):
    pytest.importorskip("jupyter_bokeh")
    view = TaskStream()
    layout = view._build()
    from bokeh.document import Document
    doc = Document()
    doc.add_root(layout)
    view._start_thread()
    try:
        minirt.get([work.remote(0.2) for _ in range(4)])
        assert wait_until(lambda: len(view._models["done"].data["name"]) >= 4, 5.0)
        assert "finished" in view._models["div"].text
        assert len(view._models["fig"].y_range.factors) >= 4
    finally:
        view.close()


def test_arguments_are_checked():
    with pytest.raises(TypeError):
        TaskStream(window="10")
    with pytest.raises(ValueError):
        TaskStream(window=0)
    with pytest.raises(ValueError):
        TaskStream(height=10)


def test_snapshot_never_waits_long_for_a_busy_lock(rt):
    head = _introspect.driver_head()
    done = []
    with head._lock:                         # another thread holds the lock...
        import threading

        def look():
            t = time.monotonic()
            done.append((_introspect.live_snapshot(head, (None, None)), time.monotonic() - t))
        th = threading.Thread(target=look)
        th.start()
        th.join(5)
    snap, took = done[0]
    assert snap is None and took < 1.0       # ...so the view skips this round


def test_saved_outputs_plain_text_is_stable_html_has_the_state(rt):
    view = TaskStream()
    before = view._bundle()
    minirt.get([work.remote(0.01) for _ in range(3)])
    view.update()
    after = view._bundle()
    assert before["text/plain"] == after["text/plain"]          # what nbval compares
    assert not re.search(r"\d", after["text/plain"])
    assert "<b>3</b> finished" in after["text/html"] and "<b>0</b> finished" in before["text/html"]


@pytest.mark.slow
def test_cost_benchmark_runs_in_a_kernel(tmp_path):
    """Smoke test of benchmarks/taskstream_cost.py (tiny sizes; no timing is asserted)."""
    import json
    import math
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = tmp_path / "cost.json"
    proc = subprocess.run([sys.executable, os.path.join(root, "benchmarks", "taskstream_cost.py"),
                           "--rounds", "1", "--tasks", "300", "--reps", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())
    for side in ("with", "without"):
        assert len(data["samples"][side]) == 1 and data["samples"][side][0] > 0
        assert all(math.isfinite(x) and x > 0 for x in data["driver_cpu_us_per_task"][side])
    assert len(data["view_thread_cpu"]) == 1 and data["view_messages"] > 0
    assert "drop:" in proc.stdout
