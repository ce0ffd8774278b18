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


# --- refs made inside a task and returned to the caller (Ray's borrowing) ----------------
@minirt.remote
def _returns_a_put():
    import numpy as np
    return [minirt.put(np.arange(10))]


@minirt.remote
def _seven():
    return 7


@minirt.remote
def _returns_a_task_ref():
    return [_seven.remote()]


@minirt.remote
class _Maker:
    def put_one(self):
        return minirt.put(42)

    def call_one(self, other):
        return [other.put_one.remote()]


def test_refs_made_in_a_task_and_returned_stay_alive(rt):
    for _ in range(10):          # the race was lost most of the time: repeat to be sure
        [r] = minirt.get(_returns_a_put.remote(), timeout=30)
        assert int(minirt.get(r, timeout=30).sum()) == 45
        [s] = minirt.get(_returns_a_task_ref.remote(), timeout=30)
        assert minirt.get(s, timeout=30) == 7


def test_refs_made_in_an_actor_method_and_returned_stay_alive(rt):
    a, b = _Maker.remote(), _Maker.remote()
    for _ in range(10):
        assert minirt.get(minirt.get(a.put_one.remote(), timeout=30), timeout=30) == 42
        [inner] = minirt.get(a.call_one.remote(b), timeout=30)
        assert minirt.get(minirt.get(inner, timeout=30), timeout=30) == 42


def test_a_returned_ref_is_freed_once_the_caller_drops_it(rt):
    import gc
    [r] = minirt.get(_returns_a_put.remote(), timeout=30)
    head = minirt._context.peek()
    oid = r._id
    assert oid in head.objects
    del r
    gc.collect()
    assert wait_until(lambda: oid not in head.objects, 10), "the returned object was never freed"


@minirt.remote
def far_array(n):
    import numpy as np
    return np.ones(n, dtype=np.uint8)


@pytest.fixture
def far_object():
    """Makes 1 MiB objects on node 1 of a two-node cluster (the driver is on node 0)."""
    from minirt.cluster_utils import Cluster
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        c.add_node(num_cpus=1, resources={"far": 1})
        minirt.init(address=c.address)

        def make():
            ref = far_array.options(resources={"far": 1}).remote(1 << 20)
            minirt.wait([ref], timeout=60)
            return ref
        yield make
    finally:
        c.shutdown()


def test_a_cross_node_copy_that_fails_unexpectedly_fails_the_get_and_is_retried_later(
        far_object, monkeypatch):
    from minirt import _objects
    big = far_object()
    real_copy = _objects.copy_private

    def bug(src, dst):
        raise RuntimeError("a bug in the copy code")
    monkeypatch.setattr(_objects, "copy_private", bug)
    t0 = time.monotonic()
    with pytest.raises(minirt.exceptions.ObjectStoreFullError, match="a bug in the copy"):
        minirt.get(big, timeout=30)
    assert time.monotonic() - t0 < 25, "the get hung until its timeout"
    monkeypatch.setattr(_objects, "copy_private", real_copy)
    assert minirt.get(big, timeout=30).nbytes == 1 << 20     # a later get copies again


def test_a_failed_copy_nobody_read_is_forgotten_with_its_object(far_object, monkeypatch):
    from minirt import _objects
    big = far_object()
    head = minirt._context.peek()

    def slow_failure(src, dst):
        time.sleep(1)
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(_objects, "copy_private", slow_failure)
    with pytest.raises(minirt.exceptions.GetTimeoutError):
        minirt.get(big, timeout=0.2)                  # the reader leaves before the failure
    key = (big._id, 0)
    assert wait_until(lambda: key in head.table._failed, 10)
    del big
    assert wait_until(lambda: key not in head.table._failed, 10)


def test_get_timeout_also_covers_the_copy_to_the_drivers_node(far_object, monkeypatch):
    from minirt import _objects
    big = far_object()
    real_copy = _objects.copy_private

    def slow_network(src, dst):
        time.sleep(4)
        real_copy(src, dst)
    monkeypatch.setattr(_objects, "copy_private", slow_network)
    t0 = time.monotonic()
    with pytest.raises(minirt.exceptions.GetTimeoutError, match="copying"):
        minirt.get(big, timeout=0.5)
    assert time.monotonic() - t0 < 3
    assert minirt.get(big, timeout=30).nbytes == 1 << 20    # the copy went on
