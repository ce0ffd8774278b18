"""Tests for util/check.py: exercise checks, claims and timeline helpers.

Failing checks raise AssertionError explicitly here: pytest rewrites ``assert``
statements in test files and appends its own explanation to their messages.
"""

import pytest

import minirt
from util import check as check_mod
from util.check import Call, calls, check, claim, cpu_note, max_overlap, workers


def test_passing_check_prints_tick_and_records(capsys):
    with check("Exercise 7") as c:
        assert 1 + 1 == 2, "arithmetic"
        c.passed("4 tasks overlapped, 3.0 s")
    out = capsys.readouterr().out
    assert out == "✓ Exercise 7 passed: 4 tasks overlapped, 3.0 s\n"
    assert check_mod.RESULTS["Exercise 7"] == (True, "4 tasks overlapped, 3.0 s")


def test_passing_check_without_detail(capsys):
    with check("Exercise 8"):
        pass
    assert capsys.readouterr().out == "✓ Exercise 8 passed\n"


def test_failing_check_prints_box_and_does_not_raise(capsys):
    reached = []
    with check("Exercise 9"):
        raise AssertionError("the four calls ran one after another: 6.0 s")
    reached.append(True)  # the with statement swallowed the AssertionError
    out = capsys.readouterr().out
    assert reached == [True]
    assert "✗ Exercise 9 not passed yet" in out
    assert "the four calls ran one after another: 6.0 s" in out
    lines = out.splitlines()
    assert lines[0].startswith("┌") and lines[-1].startswith("└")
    assert len({len(line) for line in lines}) == 1  # a closed rectangle
    assert check_mod.RESULTS["Exercise 9"] == (False, "the four calls ran one after another: 6.0 s")


def test_failing_check_wraps_long_messages(capsys):
    with check("Exercise 10"):
        raise AssertionError("word " * 60)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) > 5 and all(len(line) == len(lines[0]) for line in lines)


def test_assert_without_message_still_explains(capsys):
    with check("Exercise 11"):
        raise AssertionError()
    assert "assert without a message" in capsys.readouterr().out
    assert check_mod.RESULTS["Exercise 11"].passed is False


def test_other_exceptions_propagate():
    with pytest.raises(ZeroDivisionError):
        with check("Exercise 12"):
            1 / 0


def test_rerun_overwrites_result():
    with check("Exercise 13"):
        raise AssertionError("not yet")
    with check("Exercise 13"):
        pass
    assert check_mod.RESULTS["Exercise 13"].passed is True


def test_check_validates_title():
    with pytest.raises(TypeError):
        check(3)
    with pytest.raises(ValueError):
        check("  ")
    with pytest.raises(TypeError):
        check("Exercise 1").passed(3)


def test_claim_prints_one_line(capsys):
    assert claim("the 4 tasks ran in parallel", 0.9 < 2.5, "1.0 s") is True
    assert capsys.readouterr().out == "✓ the 4 tasks ran in parallel (1.0 s)\n"
    assert claim("the 4 tasks ran in parallel", False) is False
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("✗") and "the 4 tasks ran in parallel" in out
    with pytest.raises(TypeError):
        claim(None, True)


def test_cpu_note_without_runtime_is_empty():
    assert not minirt.is_initialized()
    assert cpu_note() == ""


def test_timeline_helpers_on_synthetic_events():
    def ev(name, tid, t0, t1):
        return {"name": name, "pid": "node 0", "tid": tid, "ts": t0 * 1e6,
                "dur": (t1 - t0) * 1e6, "ph": "X"}
    tl = [ev("cube", "w1", 10, 11), ev("cube", "w2", 10.5, 11.5), ev("cube", "w1", 11, 12),
          ev("Counter.add", "w3", 10, 10.1), dict(ev("cube", "w4", 20, 21), cat="task"),
          ev("cubed", "w5", 10, 30)]
    found = calls(tl, "cube")
    assert [c.worker for c in found] == ["node 0/w1", "node 0/w2", "node 0/w1", "node 0/w4"]
    assert max_overlap(found) == 2  # back-to-back calls on w1 do not count as overlapping
    assert workers(found) == {"node 0/w1", "node 0/w2", "node 0/w4"}
    assert len(calls(tl, "cube", since=15)) == 1
    assert [c.name for c in calls(tl, "add")] == ["Counter.add"]
    assert max_overlap([]) == 0
    assert isinstance(found[0], Call) and found[0].end == pytest.approx(11)
    with pytest.raises(TypeError):
        calls({}, "cube")


def test_timeline_helpers_accept_rays_event_shapes():
    def ev(cat, name, tid, t0, t1):
        return {"cat": cat, "name": name, "pid": "10.0.0.1", "tid": tid, "ts": t0 * 1e6,
                "dur": (t1 - t0) * 1e6, "ph": "X"}
    tl = [ev("task::sq", "__main__.sq", "worker:ab", 1, 2),
          ev("task:execute", "__main__.sq", "worker:ab", 1, 2),      # helper events: ignored
          ev("submit_task", "sq", "driver", 0.9, 0.91),
          ev("task::Thumbnailer.make", "make", "worker:cd", 1, 2),
          ev("task::Thumbnailer.make", "make", "worker:ef", 1.5, 2.5)]
    assert len(calls(tl, "sq")) == 1
    made = calls(tl, "make")
    assert len(made) == 2 and workers(made) == {"10.0.0.1/worker:cd", "10.0.0.1/worker:ef"}
    assert len(calls(tl, "Thumbnailer.make")) == 2 and max_overlap(made) == 2


def test_calls_with_a_trailing_star_matches_names_by_prefix():
    def ev(name, t0, cat="task"):
        return {"cat": cat, "name": name, "pid": "node 0", "tid": "w", "ts": t0 * 1e6, "dur": 1e6, "ph": "X"}
    tl = [ev("tidy-0", 1), ev("tidy-11", 2), ev("tidy", 3), ev("untidy-1", 4),
          ev("__main__.tidy", 5, cat="task::tidy-3")]          # Ray: the task's name is in cat
    assert [c.name for c in calls(tl, "tidy-*")] == ["tidy-0", "tidy-11", "tidy-3"]
    assert [c.name for c in calls(tl, "tidy-1")] == []         # without the star: exact names only


def test_calls_polls_a_callable_timeline_until_enough_are_found():
    batches = iter([[], [{"cat": "task", "name": "f", "pid": "node 0", "tid": "w", "ts": 5e6,
                          "dur": 1e6, "ph": "X"}]])
    last = []

    def timeline():
        last[:] = next(batches, last)
        return list(last)
    assert len(calls(timeline, "f", expect=1, timeout=5)) == 1
    assert calls(lambda: [], "f", expect=1, timeout=0.3) == []  # gives up after the timeout


def test_with_a_real_runtime():
    minirt.init(num_cpus=3)
    try:
        assert cpu_note() == "(the runtime has 3 CPUs)"

        @minirt.remote
        def nap(x):
            import time
            time.sleep(0.3)
            return x

        since = check_mod.now()
        assert minirt.get([nap.remote(i) for i in range(3)]) == [0, 1, 2]
        found = calls(minirt.timeline(), "nap", since=since)
        assert len(found) == 3
        assert max_overlap(found) == 3 and len(workers(found)) == 3
    finally:
        minirt.shutdown()
