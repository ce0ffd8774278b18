"""Zero-copy serialization: large buffers live in shared memory and are mapped read-only."""

import os
import time

import numpy as np
import pytest

import minirt
from minirt import _serial
from tests.conftest import start_kernel


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


def test_small_arrays_travel_inline_and_come_back_read_only():
    value = {"a": np.arange(10), "b": [bytearray(b"xy"), "text"]}
    s = _serial.serialize(value)
    assert [b.nbytes for b in s.buffers][:1] == [80] and s.size < _serial.INLINE_MAX
    data = _serial.to_inline(s)
    assert isinstance(data, bytes)
    out = _serial.load(_serial.INLINE, data)
    assert np.array_equal(out["a"], value["a"]) and not out["a"].flags.writeable
    assert out["b"] == [bytearray(b"xy"), "text"]
    assert isinstance(out["b"][0], bytearray)            # a bytearray stays a bytearray
    plain = _serial.serialize(["no", "buffers", 1])
    assert _serial.to_inline(plain) == plain.meta         # a plain pickle, no header


def test_numpy_arguments_and_results_are_read_only_as_in_ray(rt):
    @minirt.remote
    def try_write(a):
        try:
            a[0] = 1
            return "writable"
        except ValueError as e:
            return str(e)

    @minirt.remote
    def small():
        return np.zeros(3)

    for arg in (np.zeros(3), minirt.put(np.zeros(3)), np.zeros(10**6)):
        assert minirt.get(try_write.remote(arg)) == "assignment destination is read-only"
    assert not minirt.get(small.remote()).flags.writeable
    assert not minirt.get(minirt.put(np.zeros(3))).flags.writeable


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


# --- remote tracebacks show the learner's file and line ----------------------------------
def _run_script(tmp_path, source: str, timeout: float = 90):
    """Run ``source`` as a script (its functions live in ``__main__``); return the process."""
    import subprocess
    import sys
    import textwrap
    script = tmp_path / "learner_script.py"
    script.write_text(textwrap.dedent(source))
    return script, subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                                  timeout=timeout, cwd=os.getcwd())


def test_traceback_of_a_main_function_shows_its_file_and_line(tmp_path):
    script, proc = _run_script(tmp_path, """\
        import minirt
        minirt.init(num_cpus=1)

        @minirt.remote
        def divide(a, b):
            ratio = a / b
            return ratio

        try:
            minirt.get(divide.remote(1, 0))
        except ZeroDivisionError as e:
            print("CAUGHT", str(e))
        minirt.shutdown()
        """)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr
    assert f'File "{script}", line 6, in divide' in out, out
    assert "ratio = a / b" in out
    assert "<dynamic-code>" not in out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert lines[-1] == "ZeroDivisionError: division by zero"     # the learner's error ends it
    assert "minirt/_worker.py" not in out                          # minirt's frames are left out


def test_traceback_of_a_module_pickled_by_value_shows_its_file(tmp_path, monkeypatch, rt):
    import importlib
    import sys
    import cloudpickle
    mod_file = tmp_path / "learner_module_r2.py"
    mod_file.write_text("def parse(text):\n    value = int(text)\n    return value\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("learner_module_r2")
    cloudpickle.register_pickle_by_value(mod)
    try:
        with pytest.raises(ValueError) as info:
            minirt.get(minirt.remote(mod.parse).remote("x"))
    finally:
        cloudpickle.unregister_pickle_by_value(mod)
        sys.modules.pop("learner_module_r2", None)
    text = str(info.value)
    assert f'File "{mod_file}", line 2, in parse' in text and "value = int(text)" in text


def test_code_pickled_by_value_keeps_file_and_ships_source():
    import linecache
    source = "def f(x):\n    return 1 / x\n"
    namespace = {"__name__": "__main__"}
    exec(compile(source, "<learner-cell-r2>", "exec"), namespace)
    linecache.cache["<learner-cell-r2>"] = (len(source), None, source.splitlines(True),
                                             "<learner-cell-r2>")
    data = _serial.dumps_function(namespace["f"])
    del linecache.cache["<learner-cell-r2>"]              # as in a fresh worker
    g = __import__("pickle").loads(data)
    assert g.__code__.co_filename == "<learner-cell-r2>" and g.__code__.co_firstlineno == 1
    with pytest.raises(ZeroDivisionError) as info:
        g(0)
    assert "return 1 / x" in "".join(__import__("traceback").format_tb(info.tb))


def test_traceback_in_a_jupyter_kernel_shows_the_cell_and_line():
    outputs = []
    with start_kernel(now=False) as (_, kc):
        def run(code):
            reply = kc.execute_interactive(code, timeout=90,
                                           output_hook=lambda m: outputs.append(m["content"]))
            assert reply["content"]["status"] == "ok", reply["content"]

        run("import minirt\nminirt.init(num_cpus=1)")
        run("@minirt.remote\ndef fails(n):\n    total = n + 1\n    raise ValueError(f'bad {total}')")
        run("try:\n    minirt.get(fails.remote(1))\nexcept ValueError as e:\n    print(str(e))")
        run("minirt.shutdown()")
    text = "".join(c.get("text", "") for c in outputs)
    assert 'File "Cell In[2]", line 4, in fails' in text, text
    assert "raise ValueError(f'bad {total}')" in text
    assert text.rstrip().endswith("ValueError: bad 2")


# --- errors that are hard to send back -----------------------------------------------------
class HTTPError(Exception):
    """A common shape: message plus a status, so ``HTTPError(*args)`` cannot rebuild it."""

    def __init__(self, msg, status):
        super().__init__(msg)
        self.status = status


class FinalError(Exception):
    """An exception class that refuses subclasses."""

    def __init_subclass__(cls, **kwargs):
        raise TypeError("FinalError cannot be subclassed")


class Unpicklable(Exception):
    def __init__(self, msg):
        super().__init__(msg)
        self.lock = __import__("threading").Lock()


def test_exception_with_extra_init_args_keeps_type_and_attributes(rt):
    @minirt.remote
    def fetch():
        raise HTTPError("service unavailable", 503)

    with pytest.raises(HTTPError) as info:
        minirt.get(fetch.remote(), timeout=30)
    err = info.value
    assert isinstance(err, minirt.exceptions.TaskError) and err.status == 503
    assert err.args == ("service unavailable",) and "fetch" in str(err)
    assert 'raise HTTPError("service unavailable", 503)' in str(err)


def test_error_that_cannot_be_rebuilt_becomes_a_task_error_with_its_text():
    from minirt.exceptions import TaskError
    err = TaskError("f", "Traceback...\nUnpicklable: boom", Unpicklable("boom"), 7)
    out = __import__("pickle").loads(_serial.error_bytes(err)).error
    # the lock is dropped but type and message stay (rebuilt from args only)
    assert isinstance(out.cause, Unpicklable) and out.cause.args == ("boom",)
    blob_fail = _serial._raised_from(b"not a pickle", _serial._fallback_fields(err)).error
    assert type(blob_fail) is TaskError and blob_fail.cause is None
    assert blob_fail.cause_name == "Unpicklable" and "Unpicklable: boom" in str(blob_fail)


def test_unicode_decode_and_numpy_memory_errors_are_caught_by_their_type(rt):
    @minirt.remote
    def decode():
        return b"\xff".decode("utf-8")

    @minirt.remote
    def huge():
        return np.empty(2**62, dtype=np.uint8)

    with pytest.raises(UnicodeDecodeError) as info:
        minirt.get(decode.remote(), timeout=30)
    assert info.value.start == 0 and info.value.reason == "invalid start byte"
    with pytest.raises(MemoryError):
        minirt.get(huge.remote(), timeout=30)


def test_class_that_cannot_be_subclassed_falls_back_to_task_error_with_a_note(rt):
    @minirt.remote
    def fails():
        raise FinalError("no subclass")

    with pytest.raises(minirt.exceptions.TaskError) as info:
        minirt.get(fails.remote(), timeout=30)
    err = info.value
    assert not isinstance(err, FinalError) and isinstance(err.cause, FinalError)
    assert "cannot be subclassed" in str(err) and "catch minirt.exceptions.TaskError" in str(err)


@pytest.mark.parametrize("exc", ["KeyboardInterrupt", "GeneratorExit"])
def test_base_exceptions_come_back_as_a_plain_exception(rt, exc):
    @minirt.remote
    def fails(name):
        raise getattr(__import__("builtins"), name)()

    with pytest.raises(minirt.exceptions.TaskError) as info:
        minirt.get(fails.remote(exc), timeout=30)
    assert isinstance(info.value, Exception) and type(info.value.cause).__name__ == exc
    assert not isinstance(info.value, (KeyboardInterrupt, GeneratorExit, SystemExit))
