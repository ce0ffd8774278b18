"""Zero-copy serialization: large buffers live in shared memory and are mapped read-only."""

import os
import time

import numpy as np
import pytest

import minirt
from minirt import _serial


def _mapped_ranges(path_fragment):
    ranges = []
    with open("/proc/self/maps") as f:
        for line in f:
            if path_fragment in line:
                lo, hi = line.split()[0].split("-")
                ranges.append((int(lo, 16), int(hi, 16)))
    return ranges


def test_file_roundtrip_keeps_arrays_aligned_and_readonly(tmp_path):
    value = {"a": np.arange(100_000, dtype=np.float64), "b": "text", "c": np.ones((300, 300))}
    s = _serial.serialize(value)
    assert len(s.buffers) == 2                        # both arrays out of band
    path = str(tmp_path / "obj")
    size = _serial.write_file(s, path)
    assert os.path.getsize(path) == size
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    out = _serial.map_file(path)
    assert np.array_equal(out["a"], value["a"]) and out["b"] == "text"
    for arr in (out["a"], out["c"]):
        assert not arr.flags.writeable
        assert arr.ctypes.data % 64 == 0


def test_small_buffers_stay_in_band():
    s = _serial.serialize(np.arange(10))
    assert s.buffers == [] and s.size < _serial.INLINE_MAX


def test_load_falls_back_to_spill_path(tmp_path):
    s = _serial.serialize(np.arange(50_000))
    spill = str(tmp_path / "spilled")
    _serial.write_file(s, spill)
    out = _serial.load(_serial.FILE, (str(tmp_path / "gone"), spill))
    assert out[-1] == 49_999


def test_get_of_100mb_is_zero_copy_and_fast(rt):
    arr = np.arange(100 * 2**20 // 8, dtype=np.float64)
    ref = minirt.put(arr)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        out = minirt.get(ref)
        times.append(time.perf_counter() - t0)
    # A copy of 100 MB takes ~20-50 ms here; mapping takes well under 5 ms.
    assert min(times) < 0.005, f"get of 100 MB took {min(times) * 1e3:.2f} ms: was it copied?"
    assert not out.flags.writeable
    with pytest.raises(ValueError):
        out[0] = 1.0
    store_dir = minirt.nodes()[0]["ObjectStoreDir"]
    addr = out.ctypes.data
    assert any(lo <= addr < hi for lo, hi in _mapped_ranges(store_dir)), \
        "the array's memory is not a mapping of the store's file"
    assert out[12345] == 12345.0


def test_task_reads_large_ref_without_copy(rt):
    @minirt.remote
    def inspect(a):
        with open("/proc/self/maps") as f:
            maps = f.read()
        return (not a.flags.writeable, float(a[-1]), "minirt-" in maps)

    ref = minirt.put(np.arange(10**7, dtype=np.float64))
    ro, last, mapped = minirt.get(inspect.remote(ref))
    assert ro and last == 10**7 - 1 and mapped


def test_task_error_carries_remote_traceback_and_type(rt):
    @minirt.remote
    def fail(key):
        return {}[key]

    with pytest.raises(KeyError) as info:
        minirt.get(fail.remote("missing"))
    err = info.value
    assert isinstance(err, minirt.exceptions.TaskError)
    assert "fail" in str(err) and "pid=" in str(err) and "{}[key]" in str(err)
    assert isinstance(err.cause, KeyError) and err.__cause__ is err.cause
