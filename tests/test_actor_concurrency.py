"""Actors that run calls side by side: async actors (an event loop) and threaded ones."""

from __future__ import annotations

import asyncio
import time

import pytest

import minirt


@minirt.remote
def value(x):
    return x


@minirt.remote
class Sleeper:
    def __init__(self):
        self.calls = 0

    async def nap(self, s):
        self.calls += 1
        t0 = time.monotonic()
        await asyncio.sleep(s)
        return t0, time.monotonic()

    def count(self):                   # a plain method of an async actor
        return self.calls

    async def total(self, refs):
        return sum(await asyncio.gather(*refs))

    async def boom(self):
        raise KeyError("async boom")


@minirt.remote
class Napper:
    def nap(self, s):
        time.sleep(s)
        return s


def _most_at_once(spans) -> int:
    edges = sorted([(t0, 1) for t0, _ in spans] + [(t1, -1) for _, t1 in spans])
    now = most = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def test_async_methods_run_concurrently_up_to_max_concurrency(rt):
    a = Sleeper.remote()
    spans = minirt.get([a.nap.remote(0.5) for _ in range(20)], timeout=60)
    assert _most_at_once(spans) >= 10, "async calls should overlap while they await"
    assert minirt.get(a.count.remote()) == 20
    b = Sleeper.options(max_concurrency=2).remote()
    spans = minirt.get([b.nap.remote(0.2) for _ in range(6)], timeout=60)
    assert _most_at_once(spans) == 2


def test_await_refs_in_an_async_method_and_in_the_driver(rt):
    a = Sleeper.remote()
    assert minirt.get(a.total.remote([value.remote(i) for i in range(5)])) == 10

    async def driver():
        one = await value.remote(41)
        many = await asyncio.gather(*[value.remote(i) for i in range(3)])
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(a.nap.remote(5), 0.3)
        return one, many

    assert asyncio.run(driver()) == (41, [0, 1, 2])


def test_async_method_errors_reach_the_caller(rt):
    with pytest.raises(KeyError, match="async boom"):
        minirt.get(Sleeper.remote().boom.remote(), timeout=30)


def test_threaded_actor_still_runs_plain_methods_side_by_side(rt):
    @minirt.remote(max_concurrency=3)
    class Threads:
        def nap(self, s):
            t0 = time.monotonic()
            time.sleep(s)
            return t0, time.monotonic()

    t = Threads.remote()
    assert _most_at_once(minirt.get([t.nap.remote(0.3) for _ in range(6)], timeout=60)) == 3


def test_cancel_of_actor_calls_follows_ray(rt):
    Cancelled = minirt.exceptions.TaskCancelledError

    plain = Napper.remote()
    minirt.get(plain.nap.remote(0))
    running, waiting = plain.nap.remote(1.5), plain.nap.remote(0.1)   # both sent to the actor
    time.sleep(0.5)
    minirt.cancel(waiting)                  # sent but not started: never runs
    minirt.cancel(running)                  # a running plain call goes on
    with pytest.raises(Cancelled):
        minirt.get(waiting, timeout=30)
    assert minirt.get(running, timeout=30) == 1.5

    a = Sleeper.remote()
    minirt.get(a.count.remote())
    ref = a.nap.remote(30)
    time.sleep(0.5)
    t0 = time.monotonic()
    minirt.cancel(ref)                      # a running async call stops at its await
    with pytest.raises(Cancelled):
        minirt.get(ref, timeout=30)
    assert time.monotonic() - t0 < 10
    assert minirt.get(a.count.remote()) == 1            # the actor lives on

    t = Napper.options(max_concurrency=2).remote()
    minirt.get(t.nap.remote(0))
    busy = [t.nap.remote(1.0) for _ in range(2)]
    queued = t.nap.remote(0.1)              # waits for a free thread in the actor
    time.sleep(0.3)
    minirt.cancel(queued)
    with pytest.raises(Cancelled):
        minirt.get(queued, timeout=30)
    assert minirt.get(busy, timeout=30) == [1.0, 1.0]
