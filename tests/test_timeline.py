"""timeline(): Chrome trace events, one per execution (spec: Introspection and profiling)."""

import json
import time

import minirt


def test_timeline_format_and_file(rt, tmp_path):
    @minirt.remote
    def work(s):
        time.sleep(s)
        return s

    minirt.get([work.remote(0.2), work.remote(0.1)])
    events = minirt.timeline()
    assert len(events) == 2
    for e in events:
        assert set(e) >= {"cat", "name", "pid", "tid", "ts", "dur", "ph", "args"}
        assert e["ph"] == "X" and e["name"] == "work" and e["cat"] == "task"
        assert e["pid"] == "node 0" and e["tid"].startswith("worker ")
        assert set(e["args"]) == {"task_id", "attempt"}
    durs = sorted(e["dur"] for e in events)
    assert 90_000 < durs[0] < 190_000 and 190_000 < durs[1] < 400_000   # microseconds
    path = tmp_path / "trace.json"
    assert minirt.timeline(str(path)) is None
    loaded = json.loads(path.read_text())
    assert loaded == events


def test_timeline_records_retry_attempts(rt, tmp_path):
    marker = tmp_path / "crashed"

    @minirt.remote(max_retries=1)
    def crash_once(path):
        import os
        if not os.path.exists(path):
            open(path, "w").close()
            os._exit(1)
        return "ok"

    assert minirt.get(crash_once.remote(str(marker))) == "ok"
    attempts = [e["args"]["attempt"] for e in minirt.timeline() if e["name"] == "crash_once"]
    assert attempts == [1]
