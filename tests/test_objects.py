"""The object table: freeing nested objects, waiters that never pile up (minirt/_objects.py)."""

import time

import pytest

import minirt
from tests.conftest import wait_until


@minirt.remote
def nap(s):
    time.sleep(s)
    return s


def _waiter_entries(head) -> int:
    with head._lock:
        return sum(len(o.waiters or ()) for o in head.objects.values())


def test_dropping_a_long_chain_of_nested_refs_frees_all_of_it(rt):
    head = minirt._context.peek()
    node = minirt.put(None)
    for i in range(5000):                  # a linked list in the store: [value, ref to previous]
        node = minirt.put([i, node])
    assert minirt.get(node)[0] == 4999
    with head._lock:
        assert len(head.objects) >= 5001
    del node
    assert wait_until(lambda: not head.objects, 10), f"{len(head.objects)} objects left"
    assert head._broken is None
    assert minirt.get(minirt.put("still fine")) == "still fine"


def test_polling_wait_leaves_no_waiters(rt):
    head = minirt._context.peek()
    refs = [nap.remote(30) for _ in range(50)]
    for _ in range(200):
        ready, rest = minirt.wait(refs, num_returns=len(refs), timeout=0)
        assert ready == [] and len(rest) == 50
    assert _waiter_entries(head) == 0
    for _ in range(3):
        minirt.wait(refs, num_returns=len(refs), timeout=0.01)
    assert _waiter_entries(head) == 0
    with pytest.raises(minirt.exceptions.GetTimeoutError):
        minirt.get(refs, timeout=0.01)
    assert _waiter_entries(head) == 0
    fast = minirt.put(1)
    assert minirt.wait([fast] + refs, num_returns=1, timeout=5)[0] == [fast]
    assert _waiter_entries(head) == 0
    for r in refs:
        minirt.cancel(r, force=True)


def test_polling_wait_inside_a_task_leaves_no_waiters(rt):
    @minirt.remote
    def poll(refs):
        for _ in range(50):
            minirt.wait(refs, num_returns=len(refs), timeout=0.001)
        return True

    head = minirt._context.peek()
    refs = [nap.remote(30) for _ in range(3)]
    assert minirt.get(poll.remote(refs), timeout=60)
    assert wait_until(lambda: _waiter_entries(head) == 0, 5), _waiter_entries(head)
    for r in refs:
        minirt.cancel(r, force=True)
