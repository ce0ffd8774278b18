"""Warnings that teach (issue #14): each fires once, names its lesson, all can be silenced."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import minirt
from minirt.util import _teach
from minirt.util.warnings import MinirtTeachingWarning, enable, silence


@minirt.remote
def noop(x=None):
    return x


@pytest.fixture(autouse=True)
def fresh_hints():
    _teach._reset()
    enable()
    yield
    _teach._reset()
    enable()


def hints(fn):
    """Run fn; return the teaching warnings it issued."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [w for w in caught if issubclass(w.category, MinirtTeachingWarning)]


def get_in_a_loop():
    for i in range(_teach.GET_STREAK + 1):
        minirt.get(noop.remote(i))


def tiny_tasks():
    for _ in range(2):
        minirt.get([noop.remote(i) for i in range(_teach.TINY_SAMPLE)])


def same_array_by_value():
    a = np.zeros(_teach.LARGE_BYTES // 8 + 1)
    minirt.get([noop.remote(a) for _ in range(_teach.LARGE_REPEATS)])


def large_closure():
    big = np.ones(_teach.LARGE_BYTES // 8 + 1)

    @minirt.remote
    def uses_big():
        return float(big[0])
    minirt.get(uses_big.remote())


def wait_without_shrinking():
    refs = [noop.remote(i) for i in range(3)]
    minirt.get(refs)
    for _ in range(_teach.WAIT_STREAK + 2):
        ready, _ = minirt.wait(refs)     # the bug: `refs` is never replaced


CASES = {
    "get-in-loop": (get_in_a_loop, "nothing runs in parallel"),
    "tiny-tasks": (tiny_tasks, "overhead"),
    "large-by-value": (same_array_by_value, "minirt.put"),
    "large-closure": (large_closure, "captures a large object"),
    "wait-not-shrunk": (wait_without_shrinking, "never ends"),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_hint_fires_once_and_names_its_lesson(rt, kind):
    fn, words = CASES[kind]
    first = hints(fn)
    assert len(first) == 1, [str(w.message) for w in first]
    text = str(first[0].message)
    assert words in text and _teach.LESSONS[kind] in text and "lessons/0" in text
    assert first[0].filename == __file__          # points at the learner's line
    assert hints(fn) == []                        # at most once per session


@pytest.mark.parametrize("kind", sorted(CASES))
def test_silence_turns_every_hint_off(rt, kind):
    silence()
    assert hints(CASES[kind][0]) == []


def test_a_tree_of_tasks_or_a_few_demo_calls_are_not_a_get_loop(rt):
    @minirt.remote
    def add(a, b):
        return a + b

    def tree_and_demo():
        for _ in range(_teach.GET_STREAK):       # several tasks, then one get: not the pattern
            level = [noop.remote(i) for i in range(4)]
            while len(level) > 1:
                level = [add.remote(level[i], level[i + 1]) for i in range(0, len(level), 2)]
            assert minirt.get(level[0]) == 6
        for _ in range(_teach.GET_STREAK - 1):   # one get per call, a few times: allowed
            minirt.get(noop.remote(1))
        minirt.get(add.remote(1, 2))             # another function: the count starts again
    assert hints(tree_and_demo) == []


def test_good_patterns_stay_quiet(rt):
    def good():
        a = minirt.put(np.zeros(_teach.LARGE_BYTES // 8 + 1))
        refs = [noop.remote(a) for _ in range(5)]          # by reference: fine
        minirt.get([noop.remote(i) for i in range(10)])     # submit all, then get
        while refs:
            _, refs = minirt.wait(refs)                     # the list shrinks
        for i in range(10):                                 # fresh arrays each time
            minirt.get(noop.remote(np.full(10, i)))
            minirt.get(minirt.put(i))                       # breaks the get streak
    assert hints(good) == []


@minirt.remote
def nap(t):
    import time
    time.sleep(t)
    return t


def test_polling_a_list_with_a_timeout_is_not_the_endless_loop(rt):
    def poll():
        refs = [noop.remote(0), nap.remote(2.0)]
        minirt.get(refs[0])
        for _ in range(_teach.WAIT_STREAK + 2):   # the same list, the same first ready ref,
            minirt.wait(refs, num_returns=2, timeout=0.01)  # but each call times out
    assert hints(poll) == []


def test_environment_variable_silences(tmp_path):
    script = tmp_path / "loop.py"
    script.write_text(textwrap.dedent("""
        import minirt, warnings
        warnings.simplefilter("always")
        minirt.init(num_cpus=1)
        @minirt.remote
        def f(i):
            return i
        for i in range(8):
            minirt.get(f.remote(i))
        minirt.shutdown()
    """))
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=repo)
    loud = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                          timeout=60)
    assert "MinirtTeachingWarning" in loud.stderr
    env["MINIRT_TEACHING_WARNINGS"] = "0"
    quiet = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                           timeout=60)
    assert quiet.returncode == 0 and "MinirtTeachingWarning" not in quiet.stderr
