"""The object store: freeing, capacity and spilling (spec: Objects; issue: store capacity)."""

import os

import numpy as np
import pytest

import minirt
from tests.conftest import wait_until


def _store_files():
    d = minirt.nodes()[0]["ObjectStoreDir"]
    return os.listdir(d) if os.path.isdir(d) else []


def _used():
    return minirt.nodes()[0]["ObjectStoreUsed"]


def test_objects_freed_when_last_ref_dropped(rt):
    ref = minirt.put(np.ones(10**6))
    assert _used() > 8 * 10**6 and len(_store_files()) == 1
    del ref
    assert wait_until(lambda: _used() == 0 and _store_files() == [])


def test_object_kept_while_a_worker_holds_it(rt):
    @minirt.remote
    class Holder:
        def keep(self, refs):
            self.ref = refs[0]
            return True

        def read(self):
            return float(minirt.get(self.ref).sum())

        def drop(self):
            del self.ref
            return True

    h = Holder.remote()
    ref = minirt.put(np.ones(10**6))
    minirt.get(h.keep.remote([ref]))
    del ref
    assert minirt.get(h.read.remote()) == 10**6
    assert _used() > 0
    minirt.get(h.drop.remote())
    assert wait_until(lambda: _used() == 0, timeout=5)


def test_10000_tasks_with_1mb_results_leave_store_empty():
    minirt.init(num_cpus=2)

    @minirt.remote
    def megabyte(i):
        return np.full(2**17, i, dtype=np.float64)    # 1 MiB

    for start in range(0, 10_000, 1_000):
        refs = [megabyte.remote(i) for i in range(start, start + 1_000)]
        assert minirt.get(refs[-1])[0] == start + 999
        del refs
    assert wait_until(lambda: _used() == 0 and _store_files() == [], timeout=10)


def test_store_capacity_spills_and_data_stays_correct():
    minirt.init(num_cpus=2, object_store_memory=32 * 2**20)
    refs = [minirt.put(np.full(2**20, i, dtype=np.float64)) for i in range(10)]   # 8 MiB each
    node = minirt.nodes()[0]
    assert node["ObjectStoreUsed"] <= 32 * 2**20
    assert node["ObjectStoreSpilled"] > 0
    for i, ref in enumerate(refs):
        arr = minirt.get(ref)
        assert arr[0] == i and arr[-1] == i

    @minirt.remote
    def total(a):
        return float(a.sum())
    assert minirt.get(total.remote(refs[0])) == 0.0
    assert minirt.get(total.remote(refs[9])) == 9.0 * 2**20
    del refs, ref, arr
    assert wait_until(lambda: minirt.nodes()[0]["ObjectStoreSpilled"] == 0 and _used() == 0)


def test_task_results_past_capacity_are_spilled_not_lost():
    minirt.init(num_cpus=2, object_store_memory=16 * 2**20)

    @minirt.remote
    def block(i):
        return np.full(2**20, i, dtype=np.float64)

    refs = [block.remote(i) for i in range(6)]
    values = minirt.get(refs)
    assert [int(v[0]) for v in values] == list(range(6))


def test_store_files_are_private(rt):
    ref = minirt.put(np.ones(10**6))
    d = minirt.nodes()[0]["ObjectStoreDir"]
    assert os.stat(d).st_mode & 0o777 == 0o700
    for name in os.listdir(d):
        assert os.stat(os.path.join(d, name)).st_mode & 0o777 == 0o600
    del ref


def test_small_values_are_inline(rt):
    ref = minirt.put(list(range(100)))
    assert _store_files() == []
    assert minirt.get(ref) == list(range(100))


@pytest.mark.parametrize("size", [2**17, 2**20])
def test_result_sizes_across_threshold(rt, size):
    @minirt.remote
    def make(n):
        return np.arange(n // 8, dtype=np.float64)
    out = minirt.get(make.remote(size))
    assert out.size == size // 8 and out[-1] == size // 8 - 1


def test_get_of_a_freed_object_raises_object_lost(rt):
    import pickle
    ref = minirt.put(np.ones(10**6))
    saved = pickle.dumps(ref)            # a copy the runtime cannot see (e.g. saved to a file)
    del ref
    assert wait_until(lambda: _used() == 0)
    stale = pickle.loads(saved)
    with pytest.raises(minirt.exceptions.ObjectLostError, match="freed"):
        minirt.get(stale, timeout=5)

    @minirt.remote
    def use(a):
        return 1
    with pytest.raises(minirt.exceptions.ObjectLostError):
        minirt.get(use.remote(stale), timeout=5)
