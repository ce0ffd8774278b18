"""Load and memory: many tiny tasks, a steady stream with results dropped, a full store.

Run with ``-s`` to see the measured figures (the slow tests print them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest

import minirt
from minirt.exceptions import ObjectStoreFullError
from tests.conftest import wait_until

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@minirt.remote
def inc(x):
    return x + 1


@pytest.mark.filterwarnings("ignore::minirt.util._teach.MinirtTeachingWarning")  # (on purpose)
@pytest.mark.slow
def test_100k_tiny_tasks_submitted_at_once_all_complete():
    minirt.init(num_cpus=2)
    n = 100_000
    t0 = time.monotonic()
    refs = [inc.remote(i) for i in range(n)]
    t_submit = time.monotonic() - t0
    values = minirt.get(refs, timeout=110)
    t_total = time.monotonic() - t0
    print(f"\nload: {n} tasks: submitted in {t_submit:.1f} s, all done in {t_total:.1f} s "
          f"({n / t_total:.0f} tasks/s)")
    assert values == list(range(1, n + 1))


RSS_SCRIPT = """
import gc, json, time
import psutil
import minirt

minirt.init(num_cpus=2)
proc = psutil.Process()
batch, batches = 2_000, 100

@minirt.remote
def inc(x):
    return x + 1

def one_batch():
    kept = [inc.remote(i) for i in range(batch // 2)]
    for i in range(batch // 2):
        inc.remote(i)                    # fire and forget: the ref is dropped at once
    assert minirt.get(kept, timeout=60)[-1] == batch // 2

for _ in range(3):                       # warm up: pools, caches, allocator
    one_batch()
gc.collect()
rss0 = peak = proc.memory_info().rss
t0 = time.monotonic()
for b in range(batches):
    one_batch()
    if b % 10 == 9:
        peak = max(peak, proc.memory_info().rss)
gc.collect()
assert minirt.get(inc.remote(0), timeout=30) == 1    # the last dropped refs are applied
rss1 = proc.memory_info().rss
print(json.dumps(dict(n=batch * batches, secs=time.monotonic() - t0, rss0=rss0, rss1=rss1,
                      peak=max(peak, rss1), used=minirt.nodes()[0]["ObjectStoreUsed"])))
minirt.shutdown()
"""


@pytest.mark.slow
def test_200k_tasks_over_time_with_results_dropped_keep_driver_rss_flat(tmp_path):
    # A fresh driver process, so what earlier tests left in this one's heap cannot hide growth.
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT], cwd=str(tmp_path), env=env,
                         capture_output=True, text=True, timeout=110)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    growth = (r["peak"] - r["rss0"]) / 2**20
    print(f"\nload: {r['n']} tasks in {r['secs']:.1f} s; driver RSS {r['rss0'] / 2**20:.0f} MB -> "
          f"{r['rss1'] / 2**20:.0f} MB (peak {r['peak'] / 2**20:.0f} MB), growth {growth:.1f} MB")
    assert growth <= 100
    assert r["used"] == 0


# --- store pressure ---------------------------------------------------------------------------
MB16 = 16 * 2**20


def _array(i):
    return np.random.default_rng(i).integers(0, 256, MB16, dtype=np.uint8)


@minirt.remote
def checksum(a):
    return zlib.crc32(a)


@minirt.remote
def make(i):
    return _array(i)


def test_filling_the_store_spills_or_raises_and_data_stays_correct():
    info = minirt.init(num_cpus=2, object_store_memory=64 * 2**20)
    cap = 64 * 2**20
    sums = {i: zlib.crc32(_array(i)) for i in range(20)}
    refs, full_errors = {}, 0
    for i in range(10):                               # 160 MB of puts into a 64 MB store
        try:
            refs[i] = minirt.put(_array(i))
        except ObjectStoreFullError:
            full_errors += 1
        used = minirt.nodes()[0]["ObjectStoreUsed"]
        assert used <= cap, f"store holds {used} bytes, more than its {cap}"
    for i in range(10, 20):                           # and 160 MB of task results
        refs[i] = make.remote(i)
    node = minirt.nodes()[0]
    print(f"\nstore pressure: {len(refs)} x 16 MB into 64 MB: {full_errors} ObjectStoreFullError, "
          f"used {node['ObjectStoreUsed'] / 2**20:.0f} MB, spilled "
          f"{node['ObjectStoreSpilled'] / 2**20:.0f} MB")
    ok = 0
    for i, ref in refs.items():
        try:
            a = minirt.get(ref, timeout=60)
        except ObjectStoreFullError:
            full_errors += 1
            continue
        assert zlib.crc32(a) == sums[i], f"object {i} came back different"
        del a
        ok += 1
    node = minirt.nodes()[0]
    assert node["ObjectStoreUsed"] <= cap
    assert ok > 0
    assert node["ObjectStoreSpilled"] > 0 or full_errors > 0
    # workers read the spilled objects correctly too
    kept = {i: r for i, r in refs.items() if i < 10}
    got = minirt.get([checksum.remote(r) for r in kept.values()], timeout=60)
    assert got == [sums[i] for i in kept]
    # dropping the refs frees shared memory and the spill files
    store_dir = node["ObjectStoreDir"]
    spill_dir = os.path.join(info["session_dir"], "spill")
    del refs, kept, ref

    def files():
        return [os.path.join(r, f) for d in (store_dir, spill_dir) for r, _, fs in os.walk(d)
                for f in fs]
    assert wait_until(lambda: not files(), 5), files()
    assert minirt.get(inc.remote(1), timeout=30) == 2
