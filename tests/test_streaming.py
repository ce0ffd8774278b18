"""Streaming generators: values handed out one by one, as the task yields them."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

import minirt
from minirt import ObjectRefGenerator
from tests.conftest import wait_until


@minirt.remote
def ticks(n, pause=0.0, fail_at=None):
    for i in range(n):
        if i == fail_at:
            raise ValueError(f"bad item {i}")
        time.sleep(pause)
        yield i, time.time()


def test_each_value_arrives_before_the_generator_ends(rt):
    gen = ticks.remote(4, 0.4)
    assert isinstance(gen, ObjectRefGenerator)
    first = next(gen)
    got_first = time.time()
    assert minirt.get(first)[0] == 0
    rest = [minirt.get(ref) for ref in gen]
    assert [i for i, _ in rest] == [1, 2, 3]
    assert got_first < rest[-1][1], "the first value should be in hand before the last is made"
    assert gen.is_finished()
    with pytest.raises(StopIteration):
        next(gen)


def test_an_error_arrives_at_its_item_and_ends_the_stream(rt):
    refs = list(ticks.remote(5, fail_at=2))
    assert len(refs) == 3
    assert [minirt.get(r)[0] for r in refs[:2]] == [0, 1]
    with pytest.raises(ValueError, match="bad item 2"):
        minirt.get(refs[2])


def test_actor_method_generators_and_refs_inside_items(rt):
    @minirt.remote
    class Source:
        def refs(self, n):
            for i in range(n):
                yield minirt.put(i * 10)

    assert [minirt.get(minirt.get(r)) for r in Source.remote().refs.remote(3)] == [0, 10, 20]


def test_large_items_are_freed_once_nobody_holds_them(rt):
    @minirt.remote
    def blocks(n):
        for i in range(n):
            yield np.full(500_000, i)

    used = lambda: minirt.nodes()[0]["ObjectStoreUsed"]    # noqa: E731
    gen = blocks.remote(3)
    assert [int(minirt.get(r)[0]) for r in gen] == [0, 1, 2]
    assert used() >= 3 * 4_000_000
    del gen
    wait_until(lambda: used() == 0, 10)


def test_next_ready_options_and_async_iteration(rt):
    gen = ticks.options(num_returns="streaming").remote(2, 1.0)
    assert gen.next_ready(timeout=0.1) is None            # nothing yet
    assert minirt.get(gen.next_ready(timeout=30))[0] == 0

    async def drain():
        return [minirt.get(ref)[0] async for ref in ticks.remote(3)]

    assert asyncio.run(drain()) == [0, 1, 2]
    with pytest.raises(TypeError, match="num_returns"):
        ticks.options(num_returns="lots")
