"""minirt.util.ActorPool (spec: Utilities)."""

import time

import pytest

import minirt
from minirt.util import ActorPool


@minirt.remote
class Doubler:
    def double(self, x):
        time.sleep(0.01 * (x % 3))
        return 2 * x

    def slow(self, x):
        time.sleep(x)
        return x


def test_map_keeps_input_order(rt):
    pool = ActorPool([Doubler.remote() for _ in range(3)])
    assert list(pool.map(lambda a, v: a.double.remote(v), range(10))) == [2 * i for i in range(10)]


def test_map_unordered_yields_in_completion_order(rt):
    pool = ActorPool([Doubler.remote() for _ in range(2)])
    out = list(pool.map_unordered(lambda a, v: a.slow.remote(v), [0.6, 0.05]))
    assert out == [0.05, 0.6]


def test_submit_get_next_has_next_has_free(rt):
    pool = ActorPool([Doubler.remote()])
    assert pool.has_free() and not pool.has_next()
    pool.submit(lambda a, v: a.double.remote(v), 1)
    pool.submit(lambda a, v: a.double.remote(v), 2)      # queued: the only actor is busy
    assert not pool.has_free() and pool.has_next()
    assert pool.get_next() == 2
    assert pool.get_next_unordered() == 4
    assert not pool.has_next()
    with pytest.raises(StopIteration):
        pool.get_next()


def test_get_next_timeout(rt):
    pool = ActorPool([Doubler.remote()])
    pool.submit(lambda a, v: a.slow.remote(v), 2)
    with pytest.raises(TimeoutError):
        pool.get_next(timeout=0.1)


def test_pop_idle_and_push(rt):
    a, b = Doubler.remote(), Doubler.remote()
    pool = ActorPool([a, b])
    popped = pool.pop_idle()
    assert popped in (a, b)
    with pytest.raises(ValueError):
        pool.push([x for x in (a, b) if x != popped][0])
    pool.push(popped)
    assert list(pool.map(lambda actor, v: actor.double.remote(v), [1, 2])) == [2, 4]


def test_rejects_non_actors():
    with pytest.raises(TypeError):
        ActorPool([1, 2])
