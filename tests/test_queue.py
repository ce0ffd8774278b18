"""minirt.util.queue.Queue: Ray's actor-backed FIFO queue."""

from __future__ import annotations

import queue as stdlib_queue
import threading
import time

import pytest

import minirt
from minirt.util.queue import Empty, Full, Queue


def test_fifo_order_sizes_and_nowait(rt):
    q = Queue()
    assert q.empty() and len(q) == 0 and not q.full()
    for i in range(5):
        q.put(i)
    assert q.qsize() == q.size() == len(q) == 5
    assert [q.get() for _ in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(Empty):
        q.get_nowait()
    with pytest.raises(stdlib_queue.Empty):      # the standard library's class works too
        q.get(block=False)


def test_maxsize_full_and_timeouts(rt):
    q = Queue(maxsize=1)
    q.put_nowait("x")
    assert q.full()
    with pytest.raises(Full):
        q.put_nowait("y")
    t0 = time.monotonic()
    with pytest.raises(Full, match="stayed full"):
        q.put("y", timeout=0.3)
    assert time.monotonic() - t0 >= 0.25
    assert q.get() == "x"
    t0 = time.monotonic()
    with pytest.raises(Empty, match="within"):
        q.get(timeout=0.3)
    assert time.monotonic() - t0 >= 0.25


def test_blocked_get_wakes_when_a_task_puts(rt):
    q = Queue()

    @minirt.remote
    def producer(queue, n):
        time.sleep(0.3)
        for i in range(n):
            queue.put(i * i)
        return n

    ref = producer.remote(q, 4)
    got = [q.get(timeout=10) for _ in range(4)]      # blocks until the task puts
    assert got == [0, 1, 4, 9]
    assert minirt.get(ref) == 4


def test_blocked_put_wakes_when_the_driver_gets(rt):
    q = Queue(maxsize=2)
    q.put_nowait_batch([1, 2])
    done = threading.Event()

    def put_third():
        q.put(3, timeout=10)
        done.set()

    t = threading.Thread(target=put_third)
    t.start()
    time.sleep(0.2)
    assert not done.is_set()                          # no room yet
    assert q.get() == 1
    t.join(10)
    assert done.is_set()
    assert q.get_nowait_batch(2) == [2, 3]


def test_batches_are_all_or_nothing(rt):
    q = Queue(maxsize=3)
    q.put_nowait_batch(["a", "b"])
    with pytest.raises(Full):
        q.put_nowait_batch(["c", "d"])
    assert q.qsize() == 2
    with pytest.raises(Empty, match="holds 2"):
        q.get_nowait_batch(3)
    assert q.get_nowait_batch(2) == ["a", "b"]


def test_bad_arguments_and_shutdown(rt):
    with pytest.raises(TypeError, match="maxsize"):
        Queue(maxsize="10")
    with pytest.raises(TypeError, match="actor_options"):
        Queue(actor_options=["name"])
    q = Queue()
    with pytest.raises(ValueError, match="timeout"):
        q.get(timeout=-1)
    with pytest.raises(TypeError, match="timeout"):
        q.put(1, timeout="soon")
    with pytest.raises(ValueError, match="num_items"):
        q.get_nowait_batch(-1)
    q.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        q.put(1)


def test_named_queue_is_found_by_name(rt):
    q = Queue(actor_options={"name": "jobs"})
    q.put("hello")
    handle = minirt.get_actor("jobs")
    assert minirt.get(handle.qsize.remote()) == 1
    assert q.get() == "hello"


def test_async_put_and_get(rt):
    import asyncio

    async def main():
        q = Queue()
        await q.put_async(7)
        return await q.get_async(timeout=5)

    assert asyncio.run(main()) == 7
