"""minirt.util.progress / ProgressBar and minirt.experimental.tqdm_ray (issue #14)."""

from __future__ import annotations

import io
import time

import pytest

import minirt
from minirt.experimental import tqdm_ray
from minirt.util import ProgressBar, progress

from tests.conftest import wait_until


@minirt.remote
def sleepy(x, delay):
    time.sleep(delay)
    return x


@minirt.remote
def boom():
    raise KeyError("no such key")


def test_progress_returns_values_in_input_order(rt):
    # The first ref finishes last: the list must still be in input order.
    refs = [sleepy.remote(i, d) for i, d in enumerate([0.6, 0.3, 0.0, 0.1])]
    out = io.StringIO()
    assert progress(refs, desc="sleepy", file=out) == [0, 1, 2, 3]
    text = out.getvalue()
    assert "sleepy" in text and "4/4" in text


def test_progress_as_completed_yields_in_completion_order(rt):
    refs = [sleepy.remote(i, d) for i, d in enumerate([0.8, 0.0, 0.4])]
    gen = progress(refs, as_completed=True, file=io.StringIO())
    assert not isinstance(gen, list)
    assert list(gen) == [1, 2, 0]


def test_progress_empty_and_bad_input(rt):
    assert progress([], file=io.StringIO()) == []
    ref = minirt.put(1)
    with pytest.raises(TypeError, match="wrap a single ref"):
        progress(ref)
    with pytest.raises(TypeError, match="not an ObjectRef"):
        progress([ref, 3])
    with pytest.raises(ValueError, match="duplicates"):
        progress([ref, ref])
    with pytest.raises(TypeError, match="as_completed"):
        progress([ref], as_completed="yes")


def test_progress_raises_the_task_error(rt):
    refs = [sleepy.remote(1, 0.0), boom.remote()]
    with pytest.raises(KeyError, match="no such key"):
        progress(refs, file=io.StringIO())
    with pytest.raises(KeyError):
        list(progress(refs, as_completed=True, file=io.StringIO()))


def test_progress_bar_in_a_wait_loop(rt):
    refs = [sleepy.remote(i, 0.05 * i) for i in range(5)]
    out = io.StringIO()
    seen = []
    with ProgressBar(refs, desc="loop", file=out) as bar:
        rest = refs
        while rest:
            ready, rest = bar.wait(rest, num_returns=1, timeout=5)
            seen += minirt.get(ready)
            assert bar.n == len(seen)
        bar.update(refs)          # counting the same refs again changes nothing
        assert bar.n == 5
    assert sorted(seen) == [0, 1, 2, 3, 4]
    assert "5/5" in out.getvalue()


@minirt.remote
def counted(i, steps):
    bar = tqdm_ray.tqdm(total=steps, desc=f"inner {i}", flush_interval_s=0)
    for _ in range(steps):
        time.sleep(0.005)
        bar.update(1)
    bar.close()
    return i


def test_tqdm_ray_bars_are_drawn_in_the_driver(rt, capsys):
    manager = tqdm_ray._manager()
    manager.finished.clear()
    assert minirt.get([counted.remote(i, 7) for i in range(3)]) == [0, 1, 2]
    assert wait_until(lambda: len(manager.finished) == 3, 5.0)
    done = {s.desc: s for s in manager.finished}
    assert set(done) == {"inner 0", "inner 1", "inner 2"}
    assert all(s.n == 7 and s.total == 7 and s.closed for s in done.values())
    assert manager.bars() == {}
    time.sleep(0.4)               # forwarded output is flushed every 0.2 s
    captured = capsys.readouterr()
    # Drawn by the driver's tqdm (stderr), not as lines forwarded from the workers.
    assert "inner 1" in captured.err and "7/7" in captured.err
    assert "pid=" not in captured.out


def test_tqdm_ray_iterable_and_validation(rt):
    manager = tqdm_ray._manager()
    manager.finished.clear()
    # In the driver it updates its bar directly.
    assert sum(tqdm_ray.tqdm(range(4), desc="local", flush_interval_s=0)) == 6
    assert wait_until(lambda: any(s.desc == "local" and s.n == 4 for s in manager.finished), 5.0)
    with pytest.raises(ValueError, match="No iterable"):
        list(tqdm_ray.tqdm(total=3))
    with pytest.raises(TypeError):
        tqdm_ray.tqdm(desc=3)
    with pytest.raises(ValueError):
        tqdm_ray.tqdm(total=-1)
