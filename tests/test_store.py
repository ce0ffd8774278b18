"""The object store: freeing, capacity and spilling (spec: Objects; issue: store capacity)."""

import errno
import os
import threading

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


# --- failed spills and a full /dev/shm ----------------------------------------------------------
MB = 2**20


def _break_spill_dir(session_dir):
    """Put a plain file where node 0's spill directory goes: every spill then fails (even as root)."""
    os.makedirs(os.path.join(session_dir, "spill"), mode=0o700, exist_ok=True)
    with open(os.path.join(session_dir, "spill", "n0"), "w") as f:
        f.write("not a directory")


def test_failed_spill_is_not_counted_and_put_raises_at_once():
    info = minirt.init(num_cpus=1, object_store_memory=4 * MB)
    _break_spill_dir(info["session_dir"])
    first = minirt.put(np.ones(3 * MB // 8))
    used = _used()
    assert used >= 3 * MB and len(_store_files()) == 1
    with pytest.raises(minirt.exceptions.ObjectStoreFullError, match="spill"):
        minirt.put(np.ones(3 * MB // 8))              # needs a spill, which fails
    assert _used() == used and len(_store_files()) == 1  # nothing counted, no file left
    assert minirt.nodes()[0]["ObjectStoreSpilled"] == 0
    assert minirt.get(first)[0] == 1.0
    del first
    assert wait_until(lambda: _used() == 0 and _store_files() == [])
    again = minirt.put(np.full(3 * MB // 8, 2.0))    # the store is usable again at once
    assert minirt.get(again)[0] == 2.0


@minirt.remote
def put_inside(n):
    ref = minirt.put(np.ones(n))
    return [ref]


def test_put_in_a_task_raises_object_store_full_there():
    info = minirt.init(num_cpus=1, object_store_memory=4 * MB)
    _break_spill_dir(info["session_dir"])
    keep = minirt.put(np.ones(3 * MB // 8))
    used = _used()
    with pytest.raises(minirt.exceptions.ObjectStoreFullError):
        minirt.get(put_inside.remote(3 * MB // 8), timeout=30)
    assert _used() == used and len(_store_files()) == 1
    del keep


@pytest.fixture
def full_shm(tmp_path, monkeypatch):
    """(shm, spill) folders under tmp_path; writing a file into shm fails as a full
    /dev/shm does (ENOSPC)."""
    from minirt import _serial
    shm, spill = tmp_path / "shm", tmp_path / "spill"
    shm.mkdir()
    real = _serial.write_file

    def full(s, path):
        if path.startswith(str(shm)):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(s, path)
    monkeypatch.setattr(_serial, "write_file", full)
    return shm, spill


def test_write_value_goes_to_the_spill_dir_when_shared_memory_is_full(tmp_path, full_shm,
                                                                      monkeypatch):
    from minirt import _serial, _store
    shm, spill = full_shm
    s = _serial.serialize(np.arange(100_000))
    size = _store.write_value(s, "ab12", str(shm), str(spill))
    assert os.listdir(shm) == [] and os.path.getsize(spill / "ab12") == size
    assert (_serial.map_file(str(spill / "ab12")) == np.arange(100_000)).all()
    store = _store.NodeStore(0, str(tmp_path / "n0"), str(spill), 10 * MB)
    store.add(bytes.fromhex("ab12"), size)             # counted as spilled, not in memory
    assert store.used == 0 and store.spilled_bytes == size
    assert store.locate(bytes.fromhex("ab12"))[0] == str(spill / "ab12")
    monkeypatch.setattr(_store, "_private_dirs", lambda p: (_ for _ in ()).throw(
        OSError(errno.EROFS, "Read-only file system")))
    with pytest.raises(minirt.exceptions.ObjectStoreFullError, match="spill directory"):
        _store.write_value(s, "cd34", str(shm), str(spill))


def test_default_store_size_respects_free_shared_memory(monkeypatch):
    from minirt import _start

    class Small:
        f_bavail, f_frsize = 16 * MB // 4096, 4096     # 16 MB free, as in a busy Docker /dev/shm
    monkeypatch.setattr(os, "statvfs", lambda path: Small)
    assert _start.default_store_memory() <= 16 * MB * 0.8


SMALL_SHM = """
import numpy as np, minirt
with open("/dev/shm/filler", "wb") as f:
    f.write(b"\\0" * 48 * 2**20)                     # others took 48 of the 64 MB
minirt.init(num_cpus=1)
store = minirt.cluster_resources()["object_store_memory"]
assert store <= 16 * 2**20, store

@minirt.remote
def make():
    return np.ones(30 * 2**20 // 8)

assert minirt.get(make.remote(), timeout=60).sum() == 30 * 2**20 // 8
ref = minirt.put(np.full(30 * 2**20 // 8, 2.0))
assert minirt.get(ref)[0] == 2.0
assert minirt.nodes()[0]["ObjectStoreSpilled"] >= 30 * 2**20
minirt.shutdown()
print("SPILLED OK")
"""


def test_small_nearly_full_dev_shm_spills_instead_of_failing(tmp_path):
    """Docker's 64 MB /dev/shm, mostly used: a private tmpfs in a private mount namespace."""
    import shutil
    import subprocess
    import sys
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) for a private /dev/shm")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = tmp_path / "small_shm.py"
    script.write_text(SMALL_SHM)
    cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c",
           f"mount -t tmpfs -o size=64m tmpfs /dev/shm && exec {sys.executable} {script}"]
    r = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=repo))
    if r.returncode != 0 and "mount" in r.stderr and "SPILLED" not in r.stdout:
        if "permission denied" in r.stderr.lower() or "not permitted" in r.stderr.lower():
            pytest.skip(f"cannot mount a private tmpfs here: {r.stderr.strip()[-200:]}")
    assert r.returncode == 0 and "SPILLED OK" in r.stdout, r.stdout[-2000:] + r.stderr[-3000:]


# --- a full disk under the spill directory (issue #12, "Disk and store") -------------------

def _nearly_full(fraction):
    """A fake shutil.disk_usage result: a 100 GiB disk ``fraction`` full."""
    import shutil
    total = 100 * 2**30
    return lambda path: shutil._ntuple_diskusage(total, int(total * fraction),
                                                  int(total * (1 - fraction)))


def _spill_dir():
    from minirt import _context
    return _context.peek().nodes[0].store.spill_dir


def _spill_files():
    d = _spill_dir()
    return os.listdir(d) if os.path.isdir(d) else []


def test_put_raises_out_of_disk_when_the_spill_disk_is_over_the_threshold(monkeypatch):
    from minirt import _store
    minirt.init(num_cpus=1, object_store_memory=4 * MB)
    first = minirt.put(np.ones(3 * MB // 8))
    used = _used()
    monkeypatch.setattr(_store, "disk_usage", _nearly_full(0.97))
    with pytest.raises(minirt.exceptions.ObjectStoreFullError) as info:
        minirt.put(np.ones(3 * MB // 8))                 # needs a spill: the disk is too full
    assert isinstance(info.value, minirt.exceptions.OutOfDiskError)
    msg = str(info.value)
    assert _spill_dir() in msg and "3.00 GiB free" in msg
    assert "RAY_local_fs_capacity_threshold=0.95" in msg and "del ref" in msg
    assert _used() == used and len(_store_files()) == 1 and _spill_files() == []
    assert minirt.get(first)[0] == 1.0
    monkeypatch.setenv("RAY_local_fs_capacity_threshold", "0.99")   # Ray's knob raises it
    second = minirt.put(np.full(3 * MB // 8, 2.0))
    assert minirt.get(second)[0] == 2.0 and len(_spill_files()) == 1


def test_task_return_raises_out_of_disk_when_the_spill_disk_is_over_the_threshold(monkeypatch):
    from minirt import _store
    minirt.init(num_cpus=1, object_store_memory=4 * MB)
    keep = minirt.put(np.ones(3 * MB // 8))
    monkeypatch.setattr(_store, "disk_usage", _nearly_full(0.96))

    @minirt.remote
    def make():
        return np.ones(3 * MB // 8)
    with pytest.raises(minirt.exceptions.OutOfDiskError, match="spill"):
        minirt.get(make.remote(), timeout=30)
    assert len(_store_files()) == 1 and _spill_files() == []    # the result's file is gone
    assert minirt.get(keep)[0] == 1.0


def test_a_spill_write_that_fails_leaves_no_partial_file_and_no_raw_oserror(monkeypatch):
    from minirt import _store
    minirt.init(num_cpus=1, object_store_memory=4 * MB)
    first = minirt.put(np.ones(3 * MB // 8))

    def disk_fills_up(src, dst):
        with open(dst, "wb") as f:
            f.write(b"\0" * MB)                          # half of it made it to disk
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(_store, "copy_private", disk_fills_up)
    with pytest.raises(minirt.exceptions.OutOfDiskError) as info:
        minirt.put(np.ones(3 * MB // 8))
    assert not isinstance(info.value, OSError)
    assert "No space left on device" in str(info.value) and "free there" in str(info.value)
    assert _spill_dir() in str(info.value)
    assert _spill_files() == [] and len(_store_files()) == 1
    assert minirt.nodes()[0]["ObjectStoreSpilled"] == 0
    assert minirt.get(first)[0] == 1.0


def test_write_value_refuses_a_full_spill_disk_before_writing(full_shm, monkeypatch):
    from minirt import _serial, _store
    shm, spill = full_shm
    monkeypatch.setattr(_store, "disk_usage", _nearly_full(0.99))
    s = _serial.serialize(np.arange(100_000))
    with pytest.raises(minirt.exceptions.OutOfDiskError, match="shared memory .* is full") as info:
        _store.write_value(s, "ab12", str(shm), str(spill))
    assert str(spill) in str(info.value) and "1.00 GiB free" in str(info.value)
    assert os.listdir(shm) == [] and not spill.exists()


def test_disk_threshold_counts_the_object_and_reads_rays_variable(tmp_path, monkeypatch):
    from minirt import _store
    monkeypatch.setattr(_store, "disk_usage", _nearly_full(0.90))
    _store.check_disk(str(tmp_path), MB)                 # 90% full: room
    with pytest.raises(minirt.exceptions.OutOfDiskError):
        _store.check_disk(str(tmp_path), 6 * 2**30)      # 96% once written
    monkeypatch.setenv("RAY_local_fs_capacity_threshold", "0.85")
    with pytest.raises(minirt.exceptions.OutOfDiskError, match="=0.85"):
        _store.check_disk(str(tmp_path), 0)
    monkeypatch.setenv("RAY_local_fs_capacity_threshold", "lots")     # not a number: 0.95
    _store.check_disk(str(tmp_path), 0)


FULL_DISK = """
import errno, os, numpy as np, minirt
MB = 2**20
minirt.init(num_cpus=1, object_store_memory=4 * MB)
spill = minirt._context.peek().nodes[0].store.spill_dir
assert spill.startswith(os.environ["TMPDIR"] + "/"), spill   # on the 32 MB tmpfs
refs, error = [], None
try:
    for i in range(20):                                 # 3 MB each: the disk fills up
        refs.append(minirt.put(np.full(3 * MB // 8, float(i))))
except minirt.exceptions.ObjectStoreFullError as e:
    error = e
assert isinstance(error, minirt.exceptions.OutOfDiskError), repr(error)
assert spill in str(error) and "free of" in str(error), str(error)
assert 5 <= len(refs) < 12, len(refs)
assert [minirt.get(r)[0] for r in refs] == [float(i) for i in range(len(refs))]
os.environ["RAY_local_fs_capacity_threshold"] = "1"    # no margin: the write itself fails
try:
    for i in range(20):
        refs.append(minirt.put(np.full(3 * MB // 8, 1.0)))
except minirt.exceptions.ObjectStoreFullError as e:
    error = e
assert "No space left" in str(error), str(error)
sizes = [os.path.getsize(os.path.join(spill, f)) for f in os.listdir(spill)]
assert len(set(sizes)) == 1, sizes                      # no half-written file
minirt.shutdown()
print("DISK FULL OK")
"""


def test_a_really_full_spill_disk(tmp_path):
    """A 32 MB tmpfs as the temp dir (so the spill directory), in a private mount namespace.

    Mounted on a folder of its own, not on /tmp: the checkout (and its venv) may live
    under /tmp, and would be hidden (python: not found)."""
    import shutil
    import subprocess
    import sys
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) for a private tmpfs")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    small = tmp_path / "small"
    small.mkdir()
    script = tmp_path / "full_disk.py"
    script.write_text(FULL_DISK)
    cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c",
           f"mount -t tmpfs -o size=32m tmpfs {small} && exec {sys.executable} {script}"]
    env = dict(os.environ, PYTHONPATH=repo, TMPDIR=str(small), MINIRT_TMPDIR=str(small / "logs"))
    r = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=120, env=env)
    if r.returncode != 0 and "mount" in r.stderr and "DISK FULL" not in r.stdout:
        if "permission denied" in r.stderr.lower() or "not permitted" in r.stderr.lower():
            pytest.skip(f"cannot mount a private tmpfs here: {r.stderr.strip()[-200:]}")
    assert r.returncode == 0 and "DISK FULL OK" in r.stdout, r.stdout[-2000:] + r.stderr[-3000:]


def test_an_unexpected_error_in_the_spill_thread_reaches_the_caller(monkeypatch):
    from minirt import _store
    minirt.init(num_cpus=1, object_store_memory=4 * MB)
    first = minirt.put(np.ones(3 * MB // 8))

    def bug(src, dst):
        raise RuntimeError("a bug in the spill code")
    monkeypatch.setattr(_store, "copy_private", bug)
    box = []
    t = threading.Thread(target=lambda: box.append(_outcome(minirt.put, np.ones(3 * MB // 8))),
                         daemon=True)
    t.start()
    t.join(20)
    assert not t.is_alive(), "put() hung after the spill thread failed"
    assert isinstance(box[0], RuntimeError) and "a bug in the spill code" in str(box[0])
    monkeypatch.undo()
    assert minirt.get(first)[0] == 1.0
    again = minirt.put(np.ones(3 * MB // 8))         # the next spill works
    assert minirt.get(again)[0] == 1.0


def _outcome(fn, *args):
    try:
        return fn(*args)
    except Exception as e:      # noqa: BLE001 - the test looks at it
        return e
